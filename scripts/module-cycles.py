#!/usr/bin/env python3
"""Fails when a crate's modules use each other in a cycle: scripts/module-cycles.py SRC_DIR...

A module (one .rs file) depends on the modules its `crate::` and `super::` paths name (comments
aside). A parent and its own children may use each other; any other two-way use, or a cycle
among top-level modules, is reported and the script exits 1. scripts/test.sh runs it on
filter/src and compiler/src.
"""
import os,re,sys,itertools
def modules(src):
    mods={}
    for dp,_,fs in os.walk(src):
        for f in fs:
            if not f.endswith('.rs'): continue
            p=os.path.join(dp,f); rel=os.path.relpath(p,src)[:-3]
            parts=rel.split('/')
            if parts[-1] in ('mod','lib','main'): parts=parts[:-1]
            if 'tests' in parts: continue
            mods['::'.join(parts)]='\n'.join(l for l in open(p).read().split('\n') if not l.strip().startswith('//'))
    return mods
def refs(name,text,mods):
    out=set()
    # resolve crate:: paths and super:: paths
    for m in re.finditer(r'crate::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)',text):
        path=m.group(1).split('::')
        for k in range(len(path),0,-1):
            cand='::'.join(path[:k])
            if cand in mods: out.add(cand); break
    base=name.split('::')
    for m in re.finditer(r'\bsuper::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)',text):
        parent=base[:-1]
        path=parent+m.group(1).split('::')
        for k in range(len(path),0,-1):
            cand='::'.join(path[:k])
            if cand in mods: out.add(cand); break
    out.discard(name)
    return out
found = False
for src in sys.argv[1:]:
    mods=modules(src)
    g={n:refs(n,t,mods) for n,t in mods.items()}
    # ignore refs from a module to its own ancestors/descendants? keep: a parent using child is normal, child using parent is the cycle
    def is_rel(a,b): return a.startswith(b+'::') or b.startswith(a+'::')
    cyc=set()
    for a in g:
        for b in g[a]:
            if is_rel(a,b): continue
            if a in g.get(b,()): cyc.add(tuple(sorted((a,b))))
    # longer cycles via SCC on top-level grouping
    found = found or bool(cyc)
    print(src, 'two-way:', sorted(cyc))
    top={}
    for a,bs in g.items():
        ta=a.split('::')[0]
        for b in bs:
            tb=b.split('::')[0]
            if ta!=tb: top.setdefault(ta,set()).add(tb)
    # find SCCs
    idx={};low={};st=[];on=set();res=[];c=[0]
    def sc(v):
        idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
        for w in top.get(v,()):
            if w not in idx: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],idx[w])
        if low[v]==idx[v]:
            comp=[]
            while True:
                w=st.pop();on.discard(w);comp.append(w)
                if w==v:break
            if len(comp)>1: res.append(sorted(comp))
    for v in list(top): 
        if v not in idx: sc(v)
    found = found or bool(res)
    print('  top-level cycles:', res)

sys.exit(1 if found else 0)
