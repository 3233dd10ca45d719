#!/usr/bin/env python3
"""Rebuilds the JWKS files here from the public PEMs (run in testdata/keys). Test keys only."""
import base64, json, subprocess, sys
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
def der(path): return subprocess.run(['openssl','pkey','-pubin','-in',path,'-outform','DER'],capture_output=True,check=True).stdout
def rsa(path, kid, alg):
    txt = subprocess.run(['openssl','pkey','-pubin','-in',path,'-noout','-text'],capture_output=True,check=True,text=True).stdout
    # parse modulus hex
    lines = txt.splitlines(); mod=''; inmod=False; e=None
    for l in lines:
        s=l.strip()
        if s.startswith('Modulus'): inmod=True; continue
        if s.startswith('Exponent'): inmod=False; e=int(s.split()[1]); continue
        if inmod: mod+=s.replace(':','')
    n=int(mod,16)
    nb=n.to_bytes((n.bit_length()+7)//8,'big'); eb=e.to_bytes((e.bit_length()+7)//8,'big')
    return {"kty":"RSA","kid":kid,"use":"sig","alg":alg,"n":b64(nb),"e":b64(eb)}
def ec(path, kid, crv, alg, size):
    d=der(path); pt=d[-(1+2*size):]; assert pt[0]==4
    return {"kty":"EC","kid":kid,"use":"sig","alg":alg,"crv":crv,"x":b64(pt[1:1+size]),"y":b64(pt[1+size:])}
def ed(path, kid):
    d=der(path); return {"kty":"OKP","kid":kid,"use":"sig","alg":"EdDSA","crv":"Ed25519","x":b64(d[-32:])}
def w(name, keys):
    open(name,'w').write(json.dumps({"keys":keys},indent=2)+"\n")
w('dex.jwks.json',[rsa('dex-rsa.pem','dex-1','RS256')])
w('cognito.jwks.json',[rsa('cognito-rsa.pem','cognito-1','RS256')])
w('eks-sa.jwks.json',[rsa('eks-sa-rsa.pem','eks-sa-1','RS256')])
w('extra.jwks.json',[ec('extra-es256.pem','extra-es256','P-256','ES256',32), ec('extra-es384.pem','extra-es384','P-384','ES384',48), ed('extra-ed25519.pem','extra-ed25519')])
w('invalid-rsa-1024.jwks.json',[rsa('invalid-rsa-1024.pem','weak-1','RS256')])
