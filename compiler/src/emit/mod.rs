//! `gatehouse emit`: deployable configuration around a compiled table.

pub mod egress;
pub mod envoy;
pub mod envoyfilter;
pub mod key_clusters;
pub mod secrets;
pub mod table_server;
pub mod trafficextension;
pub mod wasmplugin;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::exit::{EXIT_FAILURE, EXIT_INVALID, EXIT_OK};

/// An Envoy `address` for a socket.
pub fn socket(addr: SocketAddr) -> serde_json::Value {
    serde_json::json!({"socket_address": {"address": addr.ip().to_string(), "port_value": addr.port()}})
}

/// What to emit.
#[derive(Debug, clap::Subcommand)]
pub enum EmitCommand {
    /// A runnable standalone Envoy configuration (YAML) with the filter in front of one
    /// upstream; also writes the table file it watches into `--table-dir`.
    Envoy(EnvoyArgs),
    /// Replaces the table of a standalone Envoy from `emit envoy`: atomically rewrites the
    /// table file in `--table-dir`, which Envoy applies to the next request on every connection.
    EnvoyTable(EnvoyTableArgs),
    /// An Istio `WasmPlugin` (extensions.istio.io/v1alpha1) loading the filter on the gateway
    /// (Istio up to 1.29).
    Wasmplugin(WasmPluginArgs),
    /// An Istio `TrafficExtension` (extensions.istio.io/v1alpha1) loading the filter on the
    /// gateway: the `WasmPlugin`'s successor, from Istio 1.30.
    Trafficextension(trafficextension::TrafficExtensionArgs),
    /// An Istio `EnvoyFilter` (networking.istio.io/v1alpha3) inserting the filter before the
    /// router, its table delivered by ECDS, for Istio without `WasmPlugin`.
    Envoyfilter(EnvoyFilterArgs),
    /// The `Deployment` and `Service` of `gatehouse serve`, for gateways that fetch their
    /// table by reference (`--table-url`).
    TableServer(table_server::TableServerArgs),
}

/// Arguments shared by the Istio manifests.
#[derive(Debug, clap::Args)]
pub struct IstioArgs {
    /// The compiled table (`gatehouse compile -o`), in any form. With `--table-url` it is
    /// only checked and gives the key hosts' egress: gateways fetch their tables.
    #[arg(long, required_unless_present = "table_url")]
    pub table: Option<PathBuf>,
    /// Gateways fetch signed tables from this URL (`gatehouse serve`; `emit table-server`)
    /// instead of carrying one: `http://<service>.<namespace>.svc.cluster.local:<port>/table`
    /// in the mesh, or `https://…`.
    #[arg(long, requires = "trust")]
    pub table_url: Option<String>,
    /// Public keys (base64, or `gatehouse keygen` `.pub` files) fetched tables must be signed
    /// with (repeatable: old and new during a key rotation).
    #[arg(long)]
    pub trust: Vec<String>,
    /// Seconds between two polls of `--table-url`.
    #[arg(long, default_value_t = 30)]
    pub poll_seconds: u64,
    /// `metadata.name`.
    #[arg(long, default_value = "gatehouse")]
    pub name: String,
    /// `metadata.namespace`: the gateway's namespace.
    #[arg(long, default_value = "istio-system")]
    pub namespace: String,
    /// Gateway pod label `key=value` (repeatable); default `istio=ingressgateway`.
    #[arg(long = "selector", value_name = "KEY=VALUE")]
    pub selector: Vec<String>,
    /// Also validate every object printed against the CRDs of this file (`kubectl get crd
    /// <name> -o yaml`, or Istio's all-in-one CRD file), schema and CEL rules, and refuse them
    /// if the API server would (repeatable; each object's kind must be defined).
    #[arg(long)]
    pub crd: Vec<PathBuf>,
}

/// Arguments of `gatehouse emit wasmplugin`.
#[derive(Debug, clap::Args)]
pub struct WasmPluginArgs {
    /// Names, selector, table.
    #[command(flatten)]
    pub istio: IstioArgs,
    /// The module and its priority.
    #[command(flatten)]
    pub plugin: PluginArgs,
}

/// Arguments shared by the plugin manifests (`WasmPlugin`, `TrafficExtension`): the module
/// and the plugin's place among the AUTHN plugins.
#[derive(Debug, clap::Args)]
pub struct PluginArgs {
    /// Where Istio gets the module: `oci://<registry>/<repo>[:tag|@sha256:<digest>]` or
    /// `file:///<path on the gateway pod>`.
    #[arg(long)]
    pub url: String,
    /// `sha256` (`spec.sha256`, `spec.wasm.sha256`): the image digest (oci://) or the
    /// module's SHA-256 (file://).
    #[arg(long, conflicts_with = "wasm")]
    pub sha256: Option<String>,
    /// The module itself, to compute `sha256` from (file:// only).
    #[arg(long)]
    pub wasm: Option<PathBuf>,
    /// `spec.priority` among the AUTHN plugins (higher runs first).
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i32>,
}

/// Arguments of `gatehouse emit envoyfilter`.
#[derive(Debug, clap::Args)]
pub struct EnvoyFilterArgs {
    #[command(flatten)]
    pub istio: IstioArgs,
    /// Absolute path of the `.wasm` inside the gateway pod (mount it from a volume).
    #[arg(long)]
    pub wasm_path: String,
    /// Patch only the gateway listener on this port (default: every gateway listener).
    #[arg(long)]
    pub port: Option<u32>,
}

/// The table file of the standalone configuration: what `emit envoy` and `emit envoy-table`
/// both write.
#[derive(Debug, clap::Args)]
pub struct TableFileArgs {
    /// The filter's `.wasm` file (its path, made absolute, goes into the table file).
    #[arg(long)]
    pub wasm: PathBuf,
    /// The compiled table (`gatehouse compile -o`).
    #[arg(long)]
    pub table: PathBuf,
    /// Directory for the table file (`gatehouse.ecds.json`), created if missing; Envoy
    /// watches it, and `emit envoy-table` replaces the file in it.
    #[arg(long)]
    pub table_dir: PathBuf,
}

/// Arguments of `gatehouse emit envoy`.
#[derive(Debug, clap::Args)]
pub struct EnvoyArgs {
    /// The table file.
    #[command(flatten)]
    pub file: TableFileArgs,
    /// Listener address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Upstream address (HTTP/1.1).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub upstream: SocketAddr,
    /// Admin address (stats, readiness); omitted: no admin listener.
    #[arg(long)]
    pub admin: Option<SocketAddr>,
    /// CA certificates (PEM) the TLS certificates of `https` key hosts are checked against
    /// (default: the system bundle, the first of `/etc/ssl/certs/ca-certificates.crt`,
    /// `/etc/pki/tls/certs/ca-bundle.crt`, `/etc/ssl/cert.pem`).
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Reach the key host `HOST:PORT` (of a key URL in the table) at `ADDR:PORT` instead of
    /// resolving `HOST`; TLS still names and checks `HOST` (repeatable; like curl's --resolve).
    #[arg(long, value_name = "HOST:PORT=ADDR:PORT", value_parser = crate::key_hosts::Resolve::parse)]
    pub resolve: Vec<crate::key_hosts::Resolve>,
}

/// Arguments of `gatehouse emit envoy-table`: the `--table-dir` given to `emit envoy`, the
/// new table, and the filter's `.wasm` (as given to `emit envoy`, or a new module).
#[derive(Debug, clap::Args)]
pub struct EnvoyTableArgs {
    /// The table file.
    #[command(flatten)]
    pub file: TableFileArgs,
}

/// Runs `gatehouse emit …`.
pub fn run(cmd: &EmitCommand) -> ExitCode {
    match cmd {
        EmitCommand::Envoy(args) => match envoy::emit(args) {
            Ok(yaml) => match std::io::stdout().write_all(yaml.as_bytes()) {
                Ok(()) => ExitCode::from(EXIT_OK),
                Err(e) => {
                    eprintln!("error: cannot write the configuration: {e}");
                    ExitCode::from(EXIT_FAILURE)
                }
            },
            Err(e) => envoy_failure(e),
        },
        EmitCommand::EnvoyTable(args) => match envoy::emit_table(args) {
            Ok(path) => {
                eprintln!("wrote {}", path.display());
                ExitCode::from(EXIT_OK)
            }
            Err(e) => envoy_failure(e),
        },
        EmitCommand::Wasmplugin(args) => print_manifest(wasmplugin::emit(args)),
        EmitCommand::Trafficextension(args) => print_manifest(trafficextension::emit(args)),
        EmitCommand::Envoyfilter(args) => print_manifest(envoyfilter::emit(args)),
        EmitCommand::TableServer(args) => print_manifest(table_server::emit(args)),
    }
}

fn envoy_failure(e: envoy::EmitFailure) -> ExitCode {
    match e {
        envoy::EmitFailure::Invalid(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INVALID)
        }
        envoy::EmitFailure::Io(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn print_manifest(result: Result<String, Vec<String>>) -> ExitCode {
    match result {
        Ok(yaml) => match std::io::stdout().write_all(yaml.as_bytes()) {
            Ok(()) => ExitCode::from(EXIT_OK),
            Err(e) => {
                eprintln!("error: cannot write the manifest: {e}");
                ExitCode::from(EXIT_FAILURE)
            }
        },
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// What both Istio manifests start from: checked names and selector, and the table.
#[derive(Debug, Clone)]
pub struct IstioCommon {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// Gateway pod labels.
    pub selector: std::collections::BTreeMap<String, String>,
    /// The table, parsed.
    pub table: serde_json::Value,
    /// The table as compact JSON text.
    pub table_compact: String,
    /// SHA-256 of the table file as read.
    pub table_sha256: String,
    /// The hosts the table fetches keys from.
    pub key_hosts: Vec<crate::key_hosts::KeyHost>,
}

/// Checks the shared arguments and reads the table, refusing one the filter would refuse.
pub fn istio_common(args: &IstioArgs) -> Result<IstioCommon, Vec<String>> {
    use crate::crd::manifest::{check_name, check_namespace, parse_selector};
    let mut errors = Vec::new();
    let selector = parse_selector(&args.selector).unwrap_or_else(|e| {
        errors.extend(e);
        Default::default()
    });
    errors.extend(check_name("--name", &args.name).err());
    errors.extend(check_namespace(&args.namespace).err());
    let table = match (&args.table_url, &args.table) {
        (Some(url), table) => source_config(url, args, table.as_deref()),
        (None, Some(table)) => read_table(table),
        (None, None) => Err("give --table FILE or --table-url URL".into()),
    };
    match table {
        Ok((table, bytes, key_hosts)) if errors.is_empty() => Ok(IstioCommon {
            key_hosts,
            name: args.name.clone(),
            namespace: args.namespace.clone(),
            selector,
            table_compact: table.to_string(),
            table,
            table_sha256: wasmplugin::sha256_hex(&bytes),
        }),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(e);
            Err(errors)
        }
    }
}

/// The table as JSON, its bytes, and its key hosts.
type ReadTable = (serde_json::Value, Vec<u8>, Vec<crate::key_hosts::KeyHost>);

use gatehouse_filter::engine::Provenance;
use gatehouse_filter::gate::source::{TableSource, TableSourceSpec};
use gatehouse_filter::live::FetchUrl;
use gatehouse_filter::wire::Form;

/// The filter's configuration naming `url` as its table source, checked as the filter checks
/// it; its key hosts are `--table`'s (when given) plus the table host outside the mesh.
fn source_config(
    url: &str,
    args: &IstioArgs,
    table: Option<&std::path::Path>,
) -> Result<ReadTable, String> {
    let u = FetchUrl::parse(url).map_err(|e| format!("--table-url `{url}`: {e}"))?;
    if u.host.ends_with(".svc") {
        return Err(format!(
            "--table-url `{url}`: name the service in full (`{}.cluster.local`): Istio names its cluster after the full name",
            u.host
        ));
    }
    let trusted = crate::table_file::read_trusted(&args.trust)?;
    let spec = TableSourceSpec::new(
        url.to_string(),
        u.cluster_name(),
        trusted
            .iter()
            .map(gatehouse_filter::wire::base64_key)
            .collect(),
        args.poll_seconds,
    );
    TableSource::new(spec.clone()).map_err(|e| format!("--table-url: {e}"))?;
    let mut key_hosts = match table {
        Some(t) => read_table(t)?.2,
        None => Vec::new(),
    };
    // The table host is fetched like a key host (egress leaves out in-cluster ones).
    key_hosts.push(crate::key_hosts::KeyHost::new(&u.host, u.port, u.tls));
    key_hosts.sort();
    key_hosts.dedup();
    let config = serde_json::json!({ "table_source": spec });
    let bytes = serde_json::to_vec(&config).map_err(|e| e.to_string())?;
    Ok((config, bytes, key_hosts))
}

fn read_table(path: &std::path::Path) -> Result<ReadTable, String> {
    let at = |e: &dyn std::fmt::Display| format!("--table `{}`: {e}", path.display());
    let bytes = crate::table_file::read(path, &[])?;
    // Refuse a table the filter would refuse, rather than deploy a gateway that denies everything.
    let engine =
        gatehouse_filter::Engine::from_bytes(&bytes, Provenance::Keep).map_err(|e| at(&e))?;
    let key_hosts = crate::key_hosts::key_hosts(&engine.table).map_err(|e| at(&e))?;
    // Inline, the table travels as JSON (a binary table is turned back into it).
    let (table, bytes) = if gatehouse_filter::wire::form(&bytes) == Some(Form::Json) {
        (serde_json::from_slice(&bytes).map_err(|e| at(&e))?, bytes)
    } else {
        let json = crate::table_json(&engine.table).map_err(|e| at(&e))?;
        (
            serde_json::from_str(&json).map_err(|e| at(&e))?,
            json.into_bytes(),
        )
    };
    Ok((table, bytes, key_hosts))
}

impl IstioCommon {
    /// The `ServiceEntry` and `DestinationRule` of every key host outside the cluster
    /// ([`egress`]), named after the manifest, in its namespace.
    pub fn egress(&self) -> Vec<serde_json::Value> {
        egress::manifests(&self.key_hosts, &self.name, &self.namespace)
    }
}

/// The manifest followed by `egress` ([`IstioCommon::egress`]), each validated against
/// `--crd` when given, rendered as one YAML stream.
pub fn finish(
    manifest: serde_json::Value,
    egress: Vec<serde_json::Value>,
    args: &IstioArgs,
) -> Result<String, Vec<String>> {
    let mut objects = vec![manifest];
    objects.extend(egress);
    if !args.crd.is_empty() {
        crate::crd::manifest::check_against(&args.crd, &objects)?;
    }
    let mut out = Vec::new();
    for o in &objects {
        out.push(crate::crd::manifest::render(o)?);
    }
    Ok(out.join("---\n"))
}
