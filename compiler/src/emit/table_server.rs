//! `gatehouse emit table-server`: the `Deployment` and `Service` that run `gatehouse serve` in
//! the cluster, so gateways fetch their signed table by reference (`emit wasmplugin
//! --table-url`). The policy directory comes from Git (a git-sync sidecar, so a merged change
//! reaches the gateways without a redeploy) or from a ConfigMap; the signing key from a Secret.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde_json::{json, Value};

/// Arguments of `gatehouse emit table-server`.
#[derive(Debug, clap::Args)]
pub struct TableServerArgs {
    /// `metadata.name` of the Deployment and the Service.
    #[arg(long, default_value = "gatehouse-tables")]
    pub name: String,
    /// `metadata.namespace`.
    #[arg(long, default_value = "gatehouse")]
    pub namespace: String,
    /// The `gatehouse` CLI image (`registry/repository:tag` or `@sha256:…`).
    #[arg(long)]
    pub image: String,
    /// The Secret holding the signing key under `signing.key` (`gatehouse keygen`:
    /// `kubectl create secret generic NAME --from-file=signing.key=NAME.key`).
    #[arg(long, default_value = "gatehouse-table-signing")]
    pub signing_secret: String,
    /// The port the Service and `gatehouse serve` listen on.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Replicas of the server (every replica compiles and serves the same table).
    #[arg(long, default_value_t = 2)]
    pub replicas: i32,
    /// Take the policy directory from this Git repository, kept current by a git-sync sidecar.
    #[arg(
        long,
        conflicts_with = "policy_configmap",
        required_unless_present = "policy_configmap"
    )]
    pub git_repo: Option<String>,
    /// The branch or tag git-sync follows.
    #[arg(long, default_value = "main")]
    pub git_ref: String,
    /// The policy directory inside the repository.
    #[arg(long, default_value = "policies")]
    pub git_path: String,
    /// The git-sync image.
    #[arg(long, default_value = "registry.k8s.io/git-sync/git-sync:v4.4.0")]
    pub git_sync_image: String,
    /// Take the policy directory from this ConfigMap instead (one file per key).
    #[arg(long)]
    pub policy_configmap: Option<String>,
    /// The Istio principals allowed to fetch the table (the table names every user and group
    /// with access): an `AuthorizationPolicy` on the server allows only them (repeatable).
    #[arg(
        long = "allow-principal",
        default_value = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
    )]
    pub allow_principals: Vec<String>,
    /// Validate the `AuthorizationPolicy` against these CRD files (as `emit wasmplugin --crd`).
    #[arg(long)]
    pub crd: Vec<std::path::PathBuf>,
}

/// Where `gatehouse serve` reads the policy directory.
const POLICY_MOUNT: &str = "/policies";
/// Where the signing key is mounted.
const KEY_MOUNT: &str = "/etc/gatehouse/signing";

/// The Service and the Deployment, checked as Kubernetes objects.
pub fn manifests(a: &TableServerArgs) -> Result<Vec<Value>, Vec<String>> {
    let mut errors = Vec::new();
    errors.extend(crate::crd::manifest::check_name("--name", &a.name).err());
    errors.extend(crate::crd::manifest::check_namespace(&a.namespace).err());
    if a.image.trim().is_empty() || a.image.contains(char::is_whitespace) {
        errors.push(format!("--image `{}` is not an image reference", a.image));
    }
    if a.replicas < 1 {
        errors.push("--replicas must be at least 1".into());
    }
    if a.port == 0 {
        errors.push("--port must not be 0".into());
    }
    if a.git_path.starts_with('/') || a.git_path.split('/').any(|s| s == "..") {
        errors.push(format!(
            "--git-path `{}` must be relative, inside the repository",
            a.git_path
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let labels = BTreeMap::from([
        (
            "app.kubernetes.io/name".to_string(),
            "gatehouse-tables".to_string(),
        ),
        ("app.kubernetes.io/instance".to_string(), a.name.clone()),
    ]);
    let (policy_dir, mut volumes, sidecars) = match (&a.git_repo, &a.policy_configmap) {
        (Some(repo), _) => (
            format!(
                "{POLICY_MOUNT}/current/{}",
                a.git_path.trim_end_matches('/')
            ),
            vec![json!({"name": "policies", "emptyDir": {}})],
            vec![json!({
                "name": "git-sync",
                "image": a.git_sync_image,
                "args": [
                    format!("--repo={repo}"),
                    format!("--ref={}", a.git_ref),
                    format!("--root={POLICY_MOUNT}"),
                    "--link=current",
                    "--period=30s",
                ],
                "volumeMounts": [{"name": "policies", "mountPath": POLICY_MOUNT}],
                "securityContext": restricted(),
            })],
        ),
        (None, Some(cm)) => (
            POLICY_MOUNT.to_string(),
            vec![json!({"name": "policies", "configMap": {"name": cm}})],
            vec![],
        ),
        (None, None) => return Err(vec!["give --git-repo URL or --policy-configmap NAME".into()]),
    };
    volumes.push(json!({"name": "signing", "secret": {"secretName": a.signing_secret}}));
    let serve = json!({
        "name": "serve",
        "image": a.image,
        "args": [
            "serve", policy_dir,
            "--sign", format!("{KEY_MOUNT}/signing.key"),
            "--listen", format!("0.0.0.0:{}", a.port),
        ],
        "ports": [{"name": "http", "containerPort": a.port}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10},
        "volumeMounts": [
            {"name": "policies", "mountPath": POLICY_MOUNT, "readOnly": true},
            {"name": "signing", "mountPath": KEY_MOUNT, "readOnly": true},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": restricted(),
    });
    let mut containers = vec![serve];
    containers.extend(sidecars);
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": a.name, "namespace": a.namespace, "labels": labels},
        "spec": {
            "replicas": a.replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": false,
                    "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": containers,
                    "volumes": volumes,
                },
            },
        },
    });
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": a.name, "namespace": a.namespace, "labels": labels},
        "spec": {
            "selector": labels,
            // `http-` tells Istio the protocol: the gateway's fetch is plain HTTP in the mesh.
            "ports": [{"name": "http-table", "port": a.port, "targetPort": "http"}],
        },
    });
    // The objects must read as what they claim to be.
    let typed = serde_json::from_value::<Deployment>(deployment.clone())
        .map(|_| ())
        .and_then(|()| serde_json::from_value::<Service>(service.clone()).map(|_| ()));
    typed.map_err(|e| {
        vec![format!(
            "internal: the emitted objects do not type-check: {e}"
        )]
    })?;
    // The table names every user and group with access: only the gateways may read it (the
    // kubelet's probes of /healthz and scrapes of /metrics stay open).
    let policy = json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": a.name, "namespace": a.namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "action": "ALLOW",
            "rules": [
                {"from": [{"source": {"principals": a.allow_principals}}],
                 "to": [{"operation": {"methods": ["GET", "HEAD"], "paths": ["/table"]}}]},
                {"to": [{"operation": {"methods": ["GET"], "paths": ["/healthz", "/metrics"]}}]},
            ],
        },
    });
    Ok(vec![service, deployment, policy])
}

fn restricted() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "capabilities": {"drop": ["ALL"]},
    })
}

/// The URL gateways fetch the table from (for `emit wasmplugin --table-url`).
pub fn table_url(a: &TableServerArgs) -> String {
    format!(
        "http://{}.{}.svc.cluster.local:{}/table",
        a.name, a.namespace, a.port
    )
}

/// Runs `gatehouse emit table-server`: the objects as one YAML stream, the Istio one checked
/// against `--crd` when given.
pub fn emit(a: &TableServerArgs) -> Result<String, Vec<String>> {
    let objects = manifests(a)?;
    if !a.crd.is_empty() {
        crate::crd::manifest::check_against(&a.crd, &objects[2..])?;
    }
    let mut out = vec![format!(
        "# Gateways fetch the signed table from {} (gatehouse emit wasmplugin --table-url).\n",
        table_url(a)
    )];
    for (i, o) in objects.iter().enumerate() {
        let yaml = crate::crd::manifest::render(o)?;
        out.push(if i == 0 { yaml } else { format!("---\n{yaml}") });
    }
    Ok(out.concat())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args() -> TableServerArgs {
        TableServerArgs {
            name: "gatehouse-tables".into(),
            namespace: "gatehouse".into(),
            image: "ghcr.io/example/gatehouse:0.1.0".into(),
            signing_secret: "gatehouse-table-signing".into(),
            port: 8080,
            replicas: 2,
            git_repo: Some("https://github.com/example/platform-policies".into()),
            git_ref: "main".into(),
            git_path: "policies".into(),
            git_sync_image: "registry.k8s.io/git-sync/git-sync:v4.4.0".into(),
            policy_configmap: None,
            allow_principals: vec![
                "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account".into(),
            ],
            crd: vec![],
        }
    }

    #[test]
    fn the_server_reads_git_signs_with_the_secret_and_serves_on_the_service_port() {
        let objects = manifests(&args()).unwrap();
        let (svc, dep) = (&objects[0], &objects[1]);
        assert_eq!(svc["kind"], "Service");
        assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
        let pod = &dep["spec"]["template"]["spec"];
        let serve = &pod["containers"][0];
        let argv: Vec<&str> = serve["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(argv[..2], ["serve", "/policies/current/policies"]);
        assert!(argv.contains(&"/etc/gatehouse/signing/signing.key"));
        assert_eq!(pod["containers"][1]["name"], "git-sync");
        assert_eq!(
            pod["volumes"][1]["secret"]["secretName"],
            "gatehouse-table-signing"
        );
        assert_eq!(
            svc["spec"]["selector"],
            dep["spec"]["template"]["metadata"]["labels"]
        );
        assert_eq!(
            table_url(&args()),
            "http://gatehouse-tables.gatehouse.svc.cluster.local:8080/table"
        );
    }

    #[test]
    fn a_configmap_replaces_git_and_bad_arguments_are_named() {
        let mut a = args();
        a.git_repo = None;
        a.policy_configmap = Some("policies".into());
        let objects = manifests(&a).unwrap();
        let pod = &objects[1]["spec"]["template"]["spec"];
        assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
        assert_eq!(pod["volumes"][0]["configMap"]["name"], "policies");
        let mut bad = args();
        bad.name = "Bad_Name".into();
        bad.git_path = "../etc".into();
        bad.replicas = 0;
        let errors = manifests(&bad).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
