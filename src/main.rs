//! The `bf-security` command: parses the command line and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::parser::ValueSource;
use clap::{Arg, CommandFactory, FromArgMatches, Parser, Subcommand};

use bf_security::clock::SystemClock;
use bf_security::config::{ConfigError, Setting, Settings};
use bf_security::domain::SecretString;
use bf_security::service::{self, bootstrap};
use bf_security::startup::StartError;
use bf_security::{admin, startup, telemetry};

#[derive(Parser)]
#[command(
    name = "bf-security",
    version,
    about = "The Security API of the BillForward billing platform"
)]
struct Cli {
    /// An optional TOML file for structured settings; the environment wins over it.
    #[arg(long, env = "BF_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Its variable and help come from its setting (`command`).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP API.
    Serve {
        #[arg(long)]
        listen: Option<String>,
    },
    /// Applies the schema migrations and says what it did.
    Migrate,
    /// Creates an organization and its platform administrator.
    ///
    /// `--password` predates the shell commands and stays for scripted installs, but any user
    /// of the machine can read it in `ps`: prefer `user create --password-stdin` or
    /// `user set-password` after.
    Bootstrap {
        #[arg(long)]
        organization: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
    },
    /// Manages users on the store directly, without logging in (docs/OPERATIONS.md).
    User {
        #[command(subcommand)]
        command: admin::UserCommand,
    },
    /// Manages organizations on the store directly, without logging in.
    Organization {
        #[command(subcommand)]
        command: admin::OrganizationCommand,
    },
    /// Works on the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walks every chain of audit events and reports the first altered or missing event of
    /// each; exits with status 1 when it finds one.
    Verify,
    /// Removes the events older than BF_AUDIT_RETENTION_DAYS now (whole prefixes of each
    /// chain, each pruning recorded).
    Prune,
}

/// The command line: each flag of a setting takes its variable and help line from the setting,
/// and `--help` ends with every setting.
fn command() -> clap::Command {
    let settings = Settings::all();
    let describe = |arg: Arg| {
        let long = arg.get_long();
        match settings.iter().find(|s| s.flag.is_some() && s.flag == long) {
            // As clap does with a documentation comment of one sentence.
            Some(s) => arg
                .env(s.name())
                .help(s.help().strip_suffix('.').unwrap_or(s.help())),
            None => arg,
        }
    };
    Cli::command()
        .mut_args(describe)
        .mut_subcommands(|c| c.mut_args(describe))
        .after_long_help(settings_help(&settings))
}

fn settings_help(settings: &[Setting]) -> String {
    let mut help = String::from(
        "Settings, from the environment or the --config file (the environment wins over the \
         file, a flag over both):",
    );
    for s in settings {
        let flag = s.flag.map(|f| format!("--{f}"));
        let from: Vec<&str> = s.env.iter().copied().chain(flag.as_deref()).collect();
        help += &format!(
            "\n  {}, {} [default: {}]\n          {}",
            from.join(", "),
            s.key,
            s.default,
            s.help()
        );
    }
    help
}

fn main() -> ExitCode {
    return_large_blocks_to_the_system();
    let (open_files_before, open_files) = startup::raise_open_files_limit();
    let matches = command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.format(&mut command()).exit(),
    };
    let variables: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .collect();
    if let Err(e) = Settings::refuse_unknown_variables(variables.iter().map(String::as_str)) {
        return fail(&e.to_string());
    }
    let mut settings = match Settings::load(cli.config.as_deref(), |k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    let listen = match &cli.command {
        Command::Serve { listen } => listen.as_deref(),
        _ => None,
    };
    let serve_matches = matches.subcommand_matches("serve");
    // clap reads a flag's variable too; an error names the one the value came from.
    let mut given_flags = Vec::new();
    for (flag, id, value, matches) in [
        (
            "database-url",
            "database_url",
            cli.database_url.as_deref(),
            Some(&matches),
        ),
        ("listen", "listen", listen, serve_matches),
    ] {
        if let Some(value) = value {
            let typed = matches.and_then(|m| m.value_source(id)) == Some(ValueSource::CommandLine);
            if typed {
                given_flags.push(flag);
            }
            if let Err(e) = settings.apply_flag(flag, value) {
                return fail(&named_after(e, typed.then_some(flag)).to_string());
            }
        }
    }
    if let Err(e) = settings.check() {
        let flag = given_flags
            .iter()
            .copied()
            .find(|f| Settings::variable_of_flag(f) == Some(e.setting.as_str()));
        return fail(&named_after(e, flag).to_string());
    }
    // Held to the end of main: dropping it writes the log lines still queued.
    let _logs = match cli.command {
        Command::User { .. } | Command::Organization { .. } => {
            telemetry::init_at(settings.log_format, "warn")
        }
        _ => telemetry::init(settings.log_format),
    };
    if open_files > open_files_before {
        tracing::debug!(
            from = open_files_before,
            to = open_files,
            "raised the limit of open files"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("could not start the runtime: {e}")),
    };
    // Where the database URL came from, for an error about it.
    let database_from = if given_flags.contains(&"database-url") {
        "--database-url"
    } else if std::env::var_os("BF_DATABASE_URL").is_some() {
        "BF_DATABASE_URL"
    } else if cli.config.is_some() {
        "database_url (settings file or default)"
    } else {
        "database_url (default)"
    };
    runtime.block_on(run(cli.command, settings, database_from))
}

/// Every Argon2 hash needs several MiB at once. glibc serves a freed block of that size to the
/// next request from the freeing thread's arena and keeps it resident there; with a fixed
/// threshold such blocks are mapped for each use and unmapped when freed, so the server's memory
/// falls back after a burst of logins instead of keeping a copy per thread.
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a tuning parameter of the allocator, before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// The error as the operator gave the value: by `--flag` when it was typed on the command line.
fn named_after(mut e: ConfigError, flag: Option<&str>) -> ConfigError {
    if let Some(flag) = flag {
        e.setting = format!("--{flag}");
    }
    e
}

fn fail(message: &str) -> ExitCode {
    eprintln!("bf-security: {message}");
    ExitCode::from(2)
}

/// A start that failed, in one line: a database error names where its URL came from.
fn start_failed(e: StartError, database_from: &str) -> ExitCode {
    match e {
        StartError::Database { url, source } => fail(&format!("{database_from} ({url}): {source}")),
        other => fail(&other.to_string()),
    }
}

fn done(result: Result<(), admin::Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

async fn run(command: Command, settings: Settings, database_from: &str) -> ExitCode {
    match command {
        Command::Migrate => {
            let store = match bf_security::store::Store::connect(&settings).await {
                Ok(s) => s,
                Err(source) => {
                    let url = bf_security::telemetry::mask_url(&settings.database_url);
                    return start_failed(StartError::Database { url, source }, database_from);
                }
            };
            match store.migrate().await {
                Ok(applied) if applied.is_empty() => println!("the schema is up to date"),
                Ok(applied) => println!("applied migrations: {}", applied.join(", ")),
                Err(e) => return fail(&format!("migrations: {e}")),
            }
            ExitCode::SUCCESS
        }
        Command::Bootstrap {
            organization,
            email,
            password,
        } => {
            let app = match startup::build(settings, Arc::new(SystemClock)).await {
                Ok(a) => a,
                Err(e) => return start_failed(e, database_from),
            };
            match bootstrap::create_admin(&app, &organization, &email, &SecretString::new(password))
                .await
            {
                Ok((org, user)) => {
                    println!("created organization {organization} ({org}) and administrator {email} ({user})");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&bf_security::error::chain(&e)),
            }
        }
        Command::User { command } => match startup::build(settings, Arc::new(SystemClock)).await {
            Ok(app) => done(admin::user(&app, command).await),
            Err(e) => start_failed(e, database_from),
        },
        Command::Organization { command } => {
            match startup::build(settings, Arc::new(SystemClock)).await {
                Ok(app) => done(admin::organization(&app, command).await),
                Err(e) => start_failed(e, database_from),
            }
        }
        Command::Audit { command } => {
            let app = match startup::build(settings, Arc::new(SystemClock)).await {
                Ok(a) => a,
                Err(e) => return start_failed(e, database_from),
            };
            match command {
                AuditCommand::Verify => verify(&app).await,
                AuditCommand::Prune => match service::audit::prune(&app).await {
                    Ok(pruned) if pruned.is_empty() => {
                        println!("nothing to prune");
                        ExitCode::SUCCESS
                    }
                    Ok(pruned) => {
                        for p in pruned {
                            println!(
                                "chain {}: removed {} events, through event {}",
                                chain_name(&p.chain),
                                p.removed,
                                p.through
                            );
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(&bf_security::error::chain(&e)),
                },
            }
        }
        Command::Serve { .. } => {
            let listen = settings.listen;
            // Bound first: a node that cannot serve must not create the first administrator
            // and print his password on its way out.
            let listener = match tokio::net::TcpListener::bind(listen).await {
                Ok(l) => l,
                Err(e) => return fail(&format!("BF_LISTEN: cannot listen on {listen}: {e}")),
            };
            let app = match startup::build(settings, Arc::new(SystemClock)).await {
                Ok(a) => a,
                Err(e) => return start_failed(e, database_from),
            };
            match bootstrap::on_first_start(&app).await {
                Ok(Some(first)) => match first.generated_password {
                    Some(password) => {
                        eprintln!(
                            "bf-security: created organization {} and administrator {} with password {}",
                            bootstrap::DEFAULT_ORGANIZATION,
                            first.email,
                            password.expose()
                        );
                        eprintln!(
                            "bf-security: this password is shown once; change it with PUT /v1/users/{}/password",
                            first.email
                        );
                    }
                    None => eprintln!(
                        "bf-security: created organization {} and administrator {}",
                        bootstrap::DEFAULT_ORGANIZATION,
                        first.email
                    ),
                },
                Ok(None) => {}
                Err(e) => return fail(&format!("first start: {e}")),
            }
            let shutdown = startup::shutdown_signal();
            tracing::info!(%listen, "serving");
            match startup::serve(app, listener, shutdown).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("server: {e}")),
            }
        }
    }
}

fn chain_name(chain: &str) -> &str {
    if chain.is_empty() {
        "(no organization)"
    } else {
        chain
    }
}

/// Prints what verification found, chain by chain; status 1 when anything was altered or lost.
async fn verify(app: &service::App) -> ExitCode {
    let report = match service::audit::verify(&app.store).await {
        Ok(r) => r,
        Err(e) => return fail(&bf_security::error::chain(&e)),
    };
    for c in &report.chains {
        match &c.problem {
            None => println!(
                "chain {}: {} events, intact",
                chain_name(&c.chain),
                c.events
            ),
            Some(p) => println!("chain {}: {p}", chain_name(&c.chain)),
        }
    }
    if report.unchained > 0 {
        println!(
            "{} events written before the chains existed are not chained (not verified)",
            report.unchained
        );
    }
    if report.clean() {
        println!("the audit trail is intact");
        ExitCode::SUCCESS
    } else {
        println!("the audit trail was tampered with");
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn every_flag_of_a_setting_is_on_the_command_line_with_its_variable() {
        let mut command = command();
        command.build();
        let args: Vec<&Arg> = command
            .get_arguments()
            .chain(command.get_subcommands().flat_map(|c| c.get_arguments()))
            .collect();
        for s in Settings::all() {
            let Some(flag) = s.flag else { continue };
            let arg = args
                .iter()
                .find(|a| a.get_long() == Some(flag))
                .unwrap_or_else(|| panic!("--{flag} is not on the command line"));
            assert_eq!(
                arg.get_env(),
                Some(std::ffi::OsStr::new(s.name())),
                "--{flag}"
            );
        }
    }
}
