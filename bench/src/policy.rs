//! A policy directory of any size, in the shapes a Kubeflow cluster has: `profiles` Kubeflow
//! Profiles (namespace `team-<i>`, owner `owner-<i>@example.com`) and `bindings` KFAM
//! contributor RoleBindings spread evenly over those namespaces (user `user-<j>@example.com`,
//! `kubeflow-edit` or `kubeflow-view` in turn), plus the example gateway and issuers. The
//! compiled table holds `profiles + bindings` grants.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

const GATEWAY: &str = "\
apiVersion: gatehouse.dev/v1alpha1
kind: Gateway
metadata:
  name: bench-gateway
spec:
  publicPaths: [/dex/, /healthz]
  builtinRoutes: [kubeflow, cortex]
---
apiVersion: gatehouse.dev/v1alpha1
kind: Issuer
metadata:
  name: dex
spec:
  jwt:
    issuer: https://dex.example.com
    audiences: [kubeflow-oidc-authservice]
    jwksFile: keys/dex.jwks.json
    algorithms: [RS256]
    userClaim: email
    groupsClaim: groups
";

/// Documents per file (a large cluster's export is split the same way).
const PER_FILE: usize = 1000;

/// Writes the policy directory into `dir` (which must exist).
pub fn write_policy(dir: &Path, profiles: usize, bindings: usize) -> io::Result<()> {
    let profiles = profiles.max(1);
    fs::create_dir_all(dir.join("keys"))?;
    fs::create_dir_all(dir.join("profiles"))?;
    fs::create_dir_all(dir.join("bindings"))?;
    fs::write(
        dir.join("keys/dex.jwks.json"),
        include_str!("../../testdata/keys/dex.jwks.json"),
    )?;
    fs::write(dir.join("gatehouse.yaml"), GATEWAY)?;

    let mut text = String::new();
    for i in 0..profiles {
        let _ = write!(
            text,
            "---\napiVersion: kubeflow.org/v1\nkind: Profile\nmetadata:\n  name: team-{i}\nspec:\n  owner:\n    kind: User\n    name: owner-{i}@example.com\n"
        );
        if (i + 1) % PER_FILE == 0 || i + 1 == profiles {
            fs::write(
                dir.join(format!("profiles/p{:05}.yaml", i / PER_FILE)),
                &text,
            )?;
            text.clear();
        }
    }
    for j in 0..bindings {
        let ns = j % profiles;
        let (role, kfam) = if j % 2 == 0 {
            ("edit", "kubeflow-edit")
        } else {
            ("view", "kubeflow-view")
        };
        let _ = write!(
            text,
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: user-user-{j}-example-com-clusterrole-{role}\n  namespace: team-{ns}\n  annotations:\n    user: user-{j}@example.com\n    role: {role}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {kfam}\nsubjects:\n  - apiGroup: rbac.authorization.k8s.io\n    kind: User\n    name: user-{j}@example.com\n"
        );
        if (j + 1) % PER_FILE == 0 || j + 1 == bindings {
            fs::write(
                dir.join(format!("bindings/b{:05}.yaml", j / PER_FILE)),
                &text,
            )?;
            text.clear();
        }
    }
    Ok(())
}
