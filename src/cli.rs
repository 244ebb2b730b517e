//! Command line (clap): `serve`, `rules validate|list|get`, `health alive|ready`,
//! `credentials generate`, `version`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::Snapshot;
use crate::config::access_rules::MatchingStrategy;
use crate::pipeline::DisabledHandlers;
use crate::rules::repository::{read_source_all, Source};

#[derive(Debug, Parser)]
#[command(name = "gatehouse", version = crate::VERSION, about = "Identity-aware proxy with an Oathkeeper-compatible rules engine")]
pub struct Cli {
    /// Config file (YAML, JSON or TOML); repeat, or separate with commas (as Oathkeeper's flag
    /// does), to merge several: later ones win.
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub config: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the proxy, API and metrics listeners.
    Serve(ServeArgs),
    /// Validate rule files, or read rules from a running instance.
    Rules(RulesArgs),
    /// Check a running instance's health.
    Health(HealthArgs),
    /// Signing keys for the id_token mutator.
    Credentials(CredentialsArgs),
    /// Print the version.
    Version,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Accepted for Oathkeeper's command lines (SPEC §6.5); gatehouse sends no telemetry.
    #[arg(long)]
    pub disable_telemetry: bool,
    /// Accepted for Oathkeeper's command lines (SPEC §6.5); gatehouse sends no usage statistics.
    #[arg(long)]
    pub sqa_opt_out: bool,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// API endpoint of a running instance.
    #[arg(
        long,
        short = 'e',
        global = true,
        default_value = "http://127.0.0.1:4456"
    )]
    pub endpoint: String,
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load and compile rule files, directories or repository URLs; list every error. With
    /// `-c`, handlers are checked against that config exactly as `serve` would.
    Validate {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
        /// Pattern syntax of `match.url` (default: the config's
        /// `access_rules.matching_strategy`, `regexp` without `-c`).
        #[arg(long, value_name = "regexp|glob", value_parser = ["regexp", "glob"])]
        matching_strategy: Option<String>,
    },
    /// Decide written-down requests with the config's rules (as `/decisions` would) and check
    /// the answers; exit 1 if any case fails.
    Test {
        /// Case files (YAML or JSON arrays of `{name, request, expect}`).
        #[arg(required = true, value_name = "CASES")]
        paths: Vec<PathBuf>,
        /// Print the matched rule and each handler's decision for every case, not only failures.
        #[arg(long)]
        explain: bool,
    },
    /// List the rules a running instance serves.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long, default_value_t = 1)]
        page: u32,
    },
    /// Show one rule of a running instance.
    Get { id: String },
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// API endpoint of a running instance.
    #[arg(
        long,
        short = 'e',
        global = true,
        default_value = "http://127.0.0.1:4456"
    )]
    pub endpoint: String,
    #[command(subcommand)]
    pub command: HealthCommand,
}

#[derive(Debug, Subcommand)]
pub enum HealthCommand {
    /// Exit 0 when the instance is alive.
    Alive,
    /// Exit 0 when the instance has rules loaded.
    Ready,
}

#[derive(Debug, Args)]
pub struct CredentialsArgs {
    #[command(subcommand)]
    pub command: CredentialsCommand,
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Print a JSON Web Key Set holding one new private signing key.
    Generate {
        /// RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256, HS384 or HS512.
        #[arg(long)]
        alg: String,
        /// Key id (default: a random UUID).
        #[arg(long)]
        kid: Option<String>,
        /// Key size: RSA modulus (default and minimum 2048) or HMAC secret (default 256, 384,
        /// 1024 bits for HS256, HS384, HS512).
        #[arg(long)]
        bits: Option<usize>,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(_) => crate::app::serve(&cli.config),
        Command::Rules(args) => match args.command {
            RulesCommand::Validate {
                paths,
                matching_strategy,
            } => validate(&cli.config, &paths, matching_strategy.as_deref()),
            RulesCommand::Test { paths, explain } => test_cases(&cli.config, &paths, explain),
            RulesCommand::List { limit, page } => {
                let offset = u64::from(page.saturating_sub(1)) * u64::from(limit);
                remote_get(
                    &args.endpoint,
                    &format!("/rules?limit={limit}&offset={offset}"),
                    |_| true,
                )
            }
            RulesCommand::Get { id } => {
                let id =
                    percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC);
                remote_get(&args.endpoint, &format!("/rules/{id}"), |_| true)
            }
        },
        Command::Health(args) => {
            let path = match args.command {
                HealthCommand::Alive => "/health/alive",
                HealthCommand::Ready => "/health/ready",
            };
            remote_get(&args.endpoint, path, |v| {
                v.get("status").and_then(|s| s.as_str()) == Some("ok")
            })
        }
        Command::Credentials(CredentialsArgs {
            command: CredentialsCommand::Generate { alg, kid, bits },
        }) => match crate::credentials::keygen::generate(&alg, kid.as_deref(), bits) {
            Ok(jwks) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&jwks).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gatehouse: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Version => {
            println!("gatehouse {}", crate::VERSION);
            ExitCode::SUCCESS
        }
    }
}

/// `rules validate`: exit 0 when every rule compiles, else print every error and exit 1.
fn validate(config_files: &[PathBuf], paths: &[String], strategy: Option<&str>) -> ExitCode {
    let (mut config, mode) = if config_files.is_empty() {
        // Without a config, handler names, rule structure, patterns and templates are checked;
        // whether handlers are enabled (and their global config) needs `-c`.
        match crate::config::load(&[]) {
            Ok(c) => (c, DisabledHandlers::CheckTemplates),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        match crate::config::load(config_files) {
            Ok(c) => (c, DisabledHandlers::Reject),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    };
    match strategy {
        Some("glob") => config.access_rules.matching_strategy = MatchingStrategy::Glob,
        Some(_) => config.access_rules.matching_strategy = MatchingStrategy::Regexp,
        None => {}
    }
    let used = config.access_rules.matching_strategy;
    let mut errors = Vec::new();
    let mut docs = Vec::new();
    let remote = crate::rules::remote::RemoteStore::default();
    for p in paths {
        match Source::parse(p) {
            Ok(Source::Remote(url)) => {
                // Fetched as `serve` fetches it (one GET, the system's roots for https).
                let fetched = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| vec![crate::rules::LoadError::source(&url, e.to_string())])
                    .and_then(|rt| rt.block_on(remote.get(&url, true)));
                match fetched {
                    Ok(mut f) => docs.append(&mut f.docs),
                    Err(mut e) => errors.append(&mut e),
                }
            }
            Ok(s) => {
                let (mut d, mut e) = read_source_all(&s);
                docs.append(&mut d);
                errors.append(&mut e);
            }
            Err(e) => errors.push(e),
        }
    }
    let files = docs.len();
    let rules: usize = docs.iter().map(|d| d.rules.len()).sum();
    if files == 0 && errors.is_empty() {
        // A directory without rule files (`rules.YAML`, a wrong path in CI) validates nothing.
        errors.push(crate::rules::LoadError::source(
            &paths.join(", "),
            "no rule files found (a rule file's name ends in .json, .yaml or .yml)",
        ));
    }
    if let Err(mut e) = Snapshot::from_documents(std::sync::Arc::new(config), &docs, mode) {
        errors.append(&mut e);
    }
    if errors.is_empty() {
        println!("ok: {rules} rules in {files} files");
        return ExitCode::SUCCESS;
    }
    for e in &errors {
        eprintln!("{e}");
    }
    eprintln!("{} error(s)", errors.len());
    let pattern_error = errors
        .iter()
        .any(|e| e.path.as_deref().is_some_and(|p| p.starts_with("match.")));
    if pattern_error && strategy.is_none() {
        let used = match used {
            MatchingStrategy::Glob => "glob",
            MatchingStrategy::Regexp => "regexp",
        };
        let from = match config_files.is_empty() {
            true => "Oathkeeper's default; pass the config with -c",
            false => "from the config",
        };
        eprintln!("note: patterns were checked with the `{used}` matching strategy ({from}, or --matching-strategy glob|regexp)");
    }
    ExitCode::FAILURE
}

/// `rules test`: every case of every file decided with the rule set of the `-c` config; prints
/// `ok`/`FAIL` per case (with the explanation on failure, or always with `--explain`).
fn test_cases(config_files: &[PathBuf], paths: &[PathBuf], explain: bool) -> ExitCode {
    if config_files.is_empty() {
        eprintln!("rules test needs the config (-c FILE): its handlers and rule repositories decide the cases");
        return ExitCode::FAILURE;
    }
    let config = match crate::config::load(config_files) {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match crate::cases::read(p) {
            Ok(c) => cases.extend(c.into_iter().map(|c| (p.display().to_string(), c))),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        errors.iter().for_each(|e| eprintln!("{e}"));
        return ExitCode::FAILURE;
    }
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async {
        let remote = crate::rules::remote::RemoteStore::default();
        let snapshot = match Snapshot::build(config, &remote, DisabledHandlers::Reject).await {
            Ok(s) => s,
            Err(errors) => {
                errors.iter().for_each(|e| eprintln!("{e}"));
                return ExitCode::FAILURE;
            }
        };
        // A closed pipe (`| head`) ends the output, not the process with a panic.
        let mut out = std::io::stdout().lock();
        let mut failed = 0;
        for (i, (file, case)) in cases.iter().enumerate() {
            let name = match case.name.is_empty() {
                true => format!("{file} #{}", i + 1),
                false => case.name.clone(),
            };
            let (broken, lines) = match crate::cases::decide(&snapshot, &case.request).await {
                Ok(got) => (
                    crate::cases::check(&case.expect, &got),
                    crate::cases::explain(&case.request, &got),
                ),
                Err(e) => (vec![e], Vec::new()),
            };
            let verdict = if broken.is_empty() { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "{verdict} {name}");
            if explain || !broken.is_empty() {
                for l in lines.iter().chain(&broken) {
                    let _ = writeln!(out, "     {l}");
                }
            }
            failed += usize::from(!broken.is_empty());
        }
        let _ = writeln!(out, "{} cases, {failed} failed", cases.len());
        match failed {
            0 => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        }
    })
}

/// The single-threaded runtime the non-serving commands run their I/O on; `None` (reported)
/// when it cannot start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| eprintln!("cannot start runtime: {e}"))
        .ok()
}

/// GET `endpoint + path`, pretty-print the JSON body; exit 0 when the status is 2xx and `ok`
/// accepts the body.
fn remote_get(endpoint: &str, path: &str, ok: impl Fn(&serde_json::Value) -> bool) -> ExitCode {
    let url = format!("{}{}", endpoint.trim_end_matches('/'), path);
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    match rt.block_on(crate::client::get_json(&url)) {
        Ok((status, body)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
            if status.is_success() && ok(&body) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("{url}: {e}");
            ExitCode::FAILURE
        }
    }
}
