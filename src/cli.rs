//! The `baton` command line: argument parsing and the small commands (`lint`, `chat`,
//! `train`, `eval`, `agent`, `customer forget`, `migrate-store`). `main.rs` only parses, sets up
//! logging and calls [`run`].

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{CliOverrides, Config};
use crate::content::{self, Diagnostic};
use crate::dialogue::{self, Compute, Facts};
use crate::eval;
use crate::handoff::Availability;
use crate::knowledge::{Knowledge, KnowledgeError, train_params};
use crate::nlu::{Lang, TrainParams};
use crate::server::{Application, shutdown_signal};

#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version,
    about = "A customer-service chatbot engine for online shops, with human handoff"
)]
pub struct Cli {
    /// TOML configuration file (default: ./baton.toml when present). Also BATON_CONFIG.
    #[arg(long, global = true, env = "BATON_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve {
        /// Address to listen on.
        #[arg(long)]
        addr: Option<SocketAddr>,
        #[command(flatten)]
        paths: PathArgs,
    },
    /// Check kb/ and intents/ and print every problem as file:line.
    Lint {
        #[command(flatten)]
        paths: PathArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Talk to the bot in the terminal (no server needed).
    Chat {
        #[command(flatten)]
        paths: PathArgs,
        /// Pretend to be a VIP customer.
        #[arg(long)]
        vip: bool,
        /// Language to assume for messages without letters.
        #[arg(long, default_value = "zh")]
        lang: String,
    },
    /// Train the intent classifier now (it is cached; serve and chat reuse it).
    Train {
        #[command(flatten)]
        paths: PathArgs,
    },
    /// Measure understanding on labelled data.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Questions the bot could not answer, grouped by similarity (largest groups first).
    Gaps {
        #[command(flatten)]
        paths: PathArgs,
        /// How many days back to look.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Leave out groups with fewer questions.
        #[arg(long, default_value_t = 1)]
        min_count: u64,
        /// At most this many groups.
        #[arg(long, default_value_t = 30)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Manage agents (works while the server runs: same database).
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
        /// Directory of the database.
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// Erase a shopper's personal data on request (works while the server runs).
    Customer {
        #[command(subcommand)]
        command: CustomerCommand,
        /// Directory of the database.
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// Copy this shop's SQLite database into an empty PostgreSQL database, in one
    /// transaction, checking every table's row count. Stop the server first; afterwards set
    /// `database_url` (BATON_DATABASE_URL) to the new database and start it again.
    MigrateStore {
        /// The target, postgres://user:password@host/database (created empty beforehand;
        /// the schema is made here). Prefer BATON_DATABASE_URL, which keeps the password out
        /// of the shell history; without either, `database_url` of the configuration.
        #[arg(
            long,
            value_name = "URL",
            env = "BATON_DATABASE_URL",
            hide_env_values = true,
            value_parser = secret_url
        )]
        to: Option<crate::config::Secret>,
        /// Directory of the SQLite database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// A database URL from the command line, kept as a [`Secret`](crate::config::Secret) so
/// that printing the parsed command line cannot show its password.
fn secret_url(s: &str) -> Result<crate::config::Secret, String> {
    Ok(crate::config::Secret::new(s))
}

#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Replace the texts of every conversation of a customer (the shop's customer id), or of
    /// one conversation, with "[erased]"; times, intents and scores stay for the statistics.
    #[command(group(clap::ArgGroup::new("subject").required(true).args(["id", "conversation"])))]
    Forget {
        /// The shop's customer id (`customer.id` of their conversations).
        id: Option<String>,
        /// One conversation instead (an anonymous shopper's).
        #[arg(long, value_name = "UUID")]
        conversation: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Add an agent; prints the token (shown once) alone on the last line.
    Add {
        #[arg(long)]
        name: String,
        /// Skill groups, comma-separated (e.g. orders,after_sales).
        #[arg(long)]
        skills: String,
        /// Conversations the agent takes at once.
        #[arg(long, default_value_t = 3)]
        max_chats: u32,
        /// Skill groups the agent supervises, comma-separated (none by default).
        #[arg(long, default_value = "")]
        supervises: String,
    },
    /// List agents.
    List,
    /// Disable an agent: their token stops working and their conversations return to the queue.
    Disable { name: String },
    /// Enable a disabled agent again.
    Enable { name: String },
    /// Issue a new token; the old one stops working. Prints the token alone on the last line.
    Rotate { name: String },
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Intent classification: JSONL lines {"text", "label"}; label `oos` is out of scope.
    Intents {
        #[arg(long)]
        train: PathBuf,
        #[arg(long)]
        test: PathBuf,
        /// Calibration data (temperature and out-of-scope threshold).
        #[arg(long)]
        valid: Option<PathBuf>,
        /// Training epochs (default from configuration).
        #[arg(long)]
        epochs: Option<usize>,
        /// Embedding width (default from configuration).
        #[arg(long)]
        dim: Option<usize>,
        /// Out-of-scope recall the calibration on --valid aims for (the best in-scope
        /// accuracy among thresholds and margins reaching it wins).
        #[arg(long, default_value_t = 0.8)]
        oos_recall: f32,
        /// Write per-intent scores, confusions, misses, a confidence histogram and the
        /// threshold sweep (JSON and PNG) into this directory.
        #[arg(long)]
        report: Option<PathBuf>,
        #[command(flatten)]
        encoder: EncoderArgs,
    },
    /// Scripted conversations replayed through the bot turn that serves shoppers, on the
    /// shop's `kb/` and `intents/`; every expectation the script names is checked. Exits
    /// with failure when any is missed.
    Dialogues {
        /// YAML list of conversations (see tests/dialogues/shop.yaml).
        #[arg(long)]
        script: PathBuf,
        #[command(flatten)]
        paths: PathArgs,
    },
    /// FAQ retrieval: FAQ lines {"id", "question", "answer", "lang"}, query lines {"query", "id"}.
    Kb {
        #[arg(long)]
        faqs: PathBuf,
        #[arg(long)]
        queries: PathBuf,
        #[command(flatten)]
        encoder: EncoderArgs,
    },
}

/// Which sentence encoder `baton eval` uses.
#[derive(Debug, Args, Default)]
pub struct EncoderArgs {
    /// Model directory (default: the configured one, models/all-MiniLM-L6-v2).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Model directory for text with Chinese characters, e.g. models/multilingual-e5-small
    /// (default: the configured `nlu.encoder_zh`, multilingual-e5-small, when installed).
    #[arg(long)]
    pub encoder_zh: Option<PathBuf>,
    /// Let the --encoder model read every language.
    #[arg(long, conflicts_with = "encoder_zh")]
    pub single_encoder: bool,
    /// Evaluate without the encoder (n-grams and BM25 alone).
    #[arg(long, conflicts_with = "encoder")]
    pub no_encoder: bool,
    /// Where embeddings of the data are cached (default: the model cache under the data
    /// directory), so a second run embeds nothing.
    #[arg(long)]
    pub embedding_cache: Option<PathBuf>,
}

/// Fails with how to install the model when `dir` holds none; `alternative` adds what else
/// the user can do.
fn require_model_dir(dir: &Path, alternative: &str) -> anyhow::Result<()> {
    if !crate::encoder::SentenceEncoder::is_model_dir(dir) {
        anyhow::bail!(
            "no sentence encoder in {}: run `{}`{alternative}",
            dir.display(),
            crate::encoder::INSTALL_HINT
        );
    }
    Ok(())
}

impl EncoderArgs {
    /// Loads the encoder these flags name; `None` with --no-encoder. Unlike `serve`, a
    /// missing model is an error: an evaluation must measure what it says it measures.
    fn load(&self, config: &Config) -> anyhow::Result<Option<crate::encoder::Encoder>> {
        if self.no_encoder {
            return Ok(None);
        }
        let dir = match (&self.encoder, config.encoder_dir()) {
            (Some(d), _) => d.clone(),
            (None, Some(d)) => d,
            (None, None) => return Ok(None),
        };
        require_model_dir(&dir, " (or pass --no-encoder)")?;
        let chinese = match (&self.encoder_zh, self.single_encoder) {
            (_, true) => None,
            (Some(d), false) => {
                require_model_dir(d, "")?;
                Some(d.clone())
            }
            // The configured Chinese model, when installed.
            (None, false) => config
                .encoder_zh_dir()
                .filter(|d| crate::encoder::SentenceEncoder::is_model_dir(d)),
        };
        let cache = self
            .embedding_cache
            .clone()
            .unwrap_or_else(|| config.model_cache_dir());
        Ok(Some(crate::encoder::Encoder::load_per_language(
            &dir,
            chinese.as_deref(),
            Some(&cache),
            crate::encoder::Encoder::pool_options(config),
        )?))
    }
}

/// Paths every command that reads content or data accepts.
#[derive(Debug, Args, Default)]
pub struct PathArgs {
    /// Directory for the database and cached models.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// FAQ directory.
    #[arg(long)]
    pub kb: Option<PathBuf>,
    /// Intent directory.
    #[arg(long)]
    pub intents: Option<PathBuf>,
    /// Pre-trained model directory.
    #[arg(long)]
    pub models: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

fn overrides(addr: Option<SocketAddr>, p: &PathArgs) -> CliOverrides {
    CliOverrides {
        addr,
        data_dir: p.data_dir.clone(),
        kb: p.kb.clone(),
        intents: p.intents.clone(),
        models: p.models.clone(),
    }
}

fn load_config(file: Option<&Path>, o: &CliOverrides) -> anyhow::Result<Config> {
    Ok(Config::load(file, o)?)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let file = cli.config.as_deref();
    match cli.command {
        Command::Serve { addr, paths } => {
            let config = load_config(file, &overrides(addr, &paths))?;
            serve(config)
        }
        Command::Lint { paths, format } => {
            let config = load_config(file, &overrides(None, &paths))?;
            Ok(lint(&config, format))
        }
        Command::Chat { paths, vip, lang } => {
            let config = load_config(file, &overrides(None, &paths))?;
            let lang = Lang::from_locale(&lang).context("--lang must be zh or en")?;
            chat(&config, vip, lang)
        }
        Command::Train { paths } => {
            let config = load_config(file, &overrides(None, &paths))?;
            let started = std::time::Instant::now();
            let k = knowledge_or_report(&config)?;
            let Some(k) = k else {
                return Ok(ExitCode::FAILURE);
            };
            println!(
                "intent classifier {:?}: {} intents, {} examples, {:.1}s; cached in {}",
                k.classifier.provenance,
                k.content.intents.len(),
                k.content.training_data().len(),
                started.elapsed().as_secs_f64(),
                config.model_cache_dir().display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Gaps {
            paths,
            days,
            min_count,
            limit,
            format,
        } => {
            let config = load_config(cli.config.as_deref(), &overrides(None, &paths))?;
            gaps(&config, days, min_count, limit, format)
        }
        Command::Agent { command, data_dir } => {
            let paths = PathArgs {
                data_dir,
                ..Default::default()
            };
            let config = load_config(file, &overrides(None, &paths))?;
            agent_command(&config, command)
        }
        Command::Customer { command, data_dir } => {
            let paths = PathArgs {
                data_dir,
                ..Default::default()
            };
            let config = load_config(file, &overrides(None, &paths))?;
            customer_command(&config, command)
        }
        Command::MigrateStore { to, data_dir } => {
            let paths = PathArgs {
                data_dir,
                ..Default::default()
            };
            let config = load_config(file, &overrides(None, &paths))?;
            migrate_store(&config, to)
        }
        Command::Eval(cmd) => eval_command(file, cmd),
    }
}

fn migrate_store(config: &Config, to: Option<crate::config::Secret>) -> anyhow::Result<ExitCode> {
    use crate::store::migrate;
    let url = to.or_else(|| config.database_url.clone()).context(
        "name the PostgreSQL database: --to postgres://… or BATON_DATABASE_URL (or database_url)",
    )?;
    let source = config.sqlite_path();
    println!(
        "copying {} into PostgreSQL at {}",
        source.display(),
        migrate::describe_target(url.expose_str())
    );
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let started = std::time::Instant::now();
    let copied = runtime.block_on(migrate::sqlite_to_postgres(
        &source,
        &config.store,
        url.expose_str(),
        &mut |table, done, total| println!("  {table}: {done} of {total} rows…"),
    ))?;
    println!("{:<20} {:>12}", "table", "rows");
    for t in &copied {
        println!("{:<20} {:>12}", t.table, t.rows);
    }
    println!(
        "copied {} rows in {} tables in {:.1}s; every table's count matches. Set database_url \
         (BATON_DATABASE_URL) to this database and start the server.",
        copied.iter().map(|t| t.rows).sum::<u64>(),
        copied.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn gaps(
    config: &Config,
    days: u32,
    min_count: u64,
    limit: usize,
    format: Format,
) -> anyhow::Result<ExitCode> {
    use crate::store;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let to = crate::clock::Clock::system().now_ms() + 1;
    let from = to - i64::from(days) * 86_400_000;
    let activity = runtime.block_on(async {
        let store = store::open(config).await?;
        let activity = store.activity(from, to).await;
        store.close().await;
        activity
    })?;
    // The FAQs as the files have them now: the nearest one is often the one to extend.
    let report = content::load_overlaid(
        &config.kb,
        &config.intents,
        &content::Overlay::new(),
        content::Checks::WithoutSimilarity,
    );
    let items = crate::insights::gaps::collect(&activity);
    let encoder = optional_encoder(config);
    let groups: Vec<_> =
        crate::insights::gaps::group(&items, &report.content.faqs, encoder.as_deref(), 3)
            .into_iter()
            .filter(|g| g.count >= min_count)
            .take(limit)
            .collect();
    match format {
        Format::Json => {
            println!(
                "{:#}",
                serde_json::json!({ "from": from, "to": to, "groups": groups })
            )
        }
        Format::Text => {
            if groups.is_empty() {
                println!("no unanswered questions in the last {days} day(s)");
            }
            for g in &groups {
                println!(
                    "{:>4} × [{}] {}  ({} conversation(s))",
                    g.count, g.lang, g.representative, g.conversations
                );
                for e in g.examples.iter().filter(|e| e.text != g.representative) {
                    println!("       · {}", e.text);
                }
                if let Some(f) = &g.nearest_faq {
                    println!(
                        "       nearest FAQ: {} ({:.2}) {}",
                        f.faq_id, f.score, f.question
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn agent_command(config: &Config, command: AgentCommand) -> anyhow::Result<ExitCode> {
    use crate::desk::agents::{self, AgentPatch, NewAgent};
    use crate::store;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = store::open(config).await?;
        let now = crate::clock::Clock::system().now_ms();
        let audit = |action: &str, detail: serde_json::Value| {
            crate::handoff::AuditEntry::new(now, "admin:cli", action, None, detail)
        };
        let result: anyhow::Result<()> = async {
            match command {
                AgentCommand::Add {
                    name,
                    skills,
                    max_chats,
                    supervises,
                } => {
                    let new = NewAgent {
                        name,
                        skills: agents::parse_skills(&skills),
                        max_chats,
                        supervises: agents::parse_skills(&supervises),
                    };
                    let (agent, token) = agents::add(&*store, new, now).await?;
                    store
                        .append_audit(&[audit(
                            "agent_add",
                            serde_json::json!({"agent_id": agent.id, "name": agent.name}),
                        )])
                        .await?;
                    println!(
                        "added agent {} (skills {}, up to {} chats). Token, shown once:",
                        agent.name,
                        agent.skills.join(","),
                        agent.max_chats
                    );
                    println!("{token}");
                }
                AgentCommand::List => {
                    println!(
                        "{:<24} {:<9} {:<9} {:>5}  skills  (supervises)",
                        "name", "status", "enabled", "chats"
                    );
                    for a in store.agents().await? {
                        let supervises = if a.supervises.is_empty() {
                            String::new()
                        } else {
                            format!("  ({})", a.supervises.join(","))
                        };
                        println!(
                            "{:<24} {:<9} {:<9} {:>5}  {}{supervises}",
                            a.name,
                            a.status.as_str(),
                            if a.disabled { "no" } else { "yes" },
                            a.max_chats,
                            a.skills.join(",")
                        );
                    }
                }
                AgentCommand::Disable { name } => {
                    let patch = AgentPatch {
                        disabled: Some(true),
                        ..Default::default()
                    };
                    let a = agents::update(&*store, &name, patch, now).await?;
                    store
                        .append_audit(&[audit(
                            "agent_update",
                            serde_json::json!({"name": a.name, "disabled": true}),
                        )])
                        .await?;
                    println!(
                        "disabled {}; a running server moves their conversations back to the queue",
                        a.name
                    );
                }
                AgentCommand::Enable { name } => {
                    let patch = AgentPatch {
                        disabled: Some(false),
                        ..Default::default()
                    };
                    let a = agents::update(&*store, &name, patch, now).await?;
                    store
                        .append_audit(&[audit(
                            "agent_update",
                            serde_json::json!({"name": a.name, "disabled": false}),
                        )])
                        .await?;
                    println!("enabled {}", a.name);
                }
                AgentCommand::Rotate { name } => {
                    let (a, token) = agents::rotate(&*store, &name, now).await?;
                    store
                        .append_audit(&[audit(
                            "agent_rotate",
                            serde_json::json!({"agent_id": a.id}),
                        )])
                        .await?;
                    println!(
                        "new token for {}, shown once (the old one no longer works):",
                        a.name
                    );
                    println!("{token}");
                }
            }
            Ok(())
        }
        .await;
        store.close().await;
        result?;
        Ok(ExitCode::SUCCESS)
    })
}

fn customer_command(config: &Config, command: CustomerCommand) -> anyhow::Result<ExitCode> {
    use crate::service::ServiceError;
    use crate::service::erase::{self, Subject};
    use crate::store;
    let CustomerCommand::Forget { id, conversation } = command;
    let subject = match (id, conversation) {
        (_, Some(c)) => Subject::Conversation(c),
        (Some(id), None) => Subject::Customer(id),
        (None, None) => anyhow::bail!("name a customer id or --conversation"),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = store::open(config).await?;
        let now = crate::clock::Clock::system().now_ms();
        let result = erase::forget(&*store, &subject, "admin:cli", now).await;
        store.close().await;
        let done = match result {
            Ok(done) => done,
            Err(ServiceError::NotFound) => {
                eprintln!(
                    "baton: nothing to erase: {}",
                    match subject {
                        Subject::Customer(_) => "no conversations of this customer",
                        Subject::Conversation(_) => "no such conversation",
                    }
                );
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => return Err(e.into()),
        };
        println!(
            "erased {} conversation(s){}: {} message(s), {} note(s), {} ticket(s), {} rating comment(s), {} draft(s), {} handoff context(s); {} open handoff(s) closed",
            done.conversations,
            if done.already_erased > 0 {
                format!(" ({} already erased)", done.already_erased)
            } else {
                String::new()
            },
            done.messages,
            done.notes,
            done.tickets,
            done.rating_comments,
            done.drafts,
            done.handoff_contexts,
            done.handoffs_closed,
        );
        for id in &done.conversation_ids {
            println!("  {id}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        match Application::build(config).await {
            Ok(app) => {
                app.run_until(shutdown_signal()).await?;
                Ok(ExitCode::SUCCESS)
            }
            Err(crate::server::StartError::Knowledge(KnowledgeError::Invalid(diagnostics))) => {
                print_diagnostics(&diagnostics, Format::Text);
                eprintln!(
                    "baton: not starting: fix the content errors above (`baton lint` checks them)"
                );
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        }
    })
}

fn print_diagnostics(diagnostics: &[Diagnostic], format: Format) {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    match format {
        Format::Text => {
            for d in diagnostics {
                eprintln!("{d}");
            }
            eprintln!("{errors} error(s), {warnings} warning(s)");
        }
        Format::Json => {
            let out = serde_json::json!({ "errors": errors, "warnings": warnings, "diagnostics": diagnostics });
            println!("{out:#}");
        }
    }
}

fn lint(config: &Config, format: Format) -> ExitCode {
    let encoder = optional_encoder(config);
    let report = content::load_with_encoder(&config.kb, &config.intents, encoder.as_deref());
    print_diagnostics(&report.diagnostics, format);
    if matches!(format, Format::Text) && !report.has_errors() {
        eprintln!(
            "ok: {} FAQs, {} intents, {} trigger rules, {} word lists; near-duplicate questions compared {}",
            report.content.faqs.len(),
            report.content.intents.len(),
            report.content.rules.rules.len(),
            report.content.words.lists.len(),
            match &encoder {
                Some(e) => format!("by meaning ({})", e.model.name()),
                None => "by their words (no sentence encoder)".to_string(),
            }
        );
    }
    if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The sentence encoder `config` names, for commands that only compare texts (`lint`, `gaps`):
/// they load it when it is installed (a second or two), and fall back to comparing words when
/// it is not, is turned off or does not load — a model never makes them fail.
fn optional_encoder(config: &Config) -> Option<Arc<crate::encoder::Encoder>> {
    match crate::encoder::Encoder::from_config(config) {
        Ok(encoder) => encoder,
        Err(e) => {
            tracing::warn!(error = %e, "the sentence encoder did not load; comparing texts by their words");
            None
        }
    }
}

/// Loads knowledge, printing content errors (and returning `None`) instead of failing.
fn knowledge_or_report(config: &Config) -> anyhow::Result<Option<Knowledge>> {
    crate::kb::analyzer::warm_up();
    let encoder = crate::encoder::Encoder::from_config(config)?;
    match Knowledge::load(config, encoder) {
        Ok(k) => Ok(Some(k)),
        Err(KnowledgeError::Invalid(d)) => {
            print_diagnostics(&d, Format::Text);
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// `baton eval …`: a JSON report on standard output.
fn eval_command(file: Option<&Path>, cmd: EvalCommand) -> anyhow::Result<ExitCode> {
    // Dialogues run on the shop's own content; the datasets' evaluations name their files.
    let paths = match &cmd {
        EvalCommand::Dialogues { paths, .. } => overrides(None, paths),
        _ => CliOverrides::default(),
    };
    let config = load_config(file, &paths)?;
    let report = match cmd {
        EvalCommand::Dialogues { script, .. } => return eval_dialogues(&config, &script),
        EvalCommand::Intents {
            train,
            test,
            valid,
            epochs,
            dim,
            oos_recall,
            report,
            encoder,
        } => {
            let mut params: TrainParams = train_params(&config.nlu);
            if let Some(e) = epochs {
                params.epochs = e;
            }
            if let Some(d) = dim {
                params.dim = d;
            }
            let encoder = encoder.load(&config)?;
            let options = eval::IntentEvalOptions {
                params,
                dense: crate::nlu::DenseParams::default(),
                encoder: encoder.as_ref(),
                oos_recall,
                report_dir: report.as_deref(),
            };
            serde_json::to_string_pretty(&eval::eval_intents(
                &train,
                &test,
                valid.as_deref(),
                &options,
            )?)?
        }
        EvalCommand::Kb {
            faqs,
            queries,
            encoder,
        } => {
            let encoder = encoder.load(&config)?;
            serde_json::to_string_pretty(&eval::eval_kb(&faqs, &queries, encoder.as_ref())?)?
        }
    };
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// `baton eval dialogues`: the report on standard output, failure when a turn missed.
fn eval_dialogues(config: &Config, script: &Path) -> anyhow::Result<ExitCode> {
    let Some(knowledge) = knowledge_or_report(config)? else {
        return Ok(ExitCode::FAILURE);
    };
    let (knowledge, config) = (Arc::new(knowledge), Arc::new(config.clone()));
    // The encoder's pool answers on a channel, and the demo shop serves on a loopback port
    // for order tasks: a small runtime with I/O and timers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(eval::dialogues::eval_dialogues(&knowledge, &config, script))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.misses.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn chat(config: &Config, vip: bool, lang: Lang) -> anyhow::Result<ExitCode> {
    let Some(knowledge) = knowledge_or_report(config)? else {
        return Ok(ExitCode::FAILURE);
    };
    let (knowledge, config) = (Arc::new(knowledge), Arc::new(config.clone()));
    let mut facts = Facts {
        vip,
        ..Facts::default()
    };
    let mut memory = crate::dialogue_memory::DialogueMemory::default();
    // The encoder's pool answers on a channel; a small runtime awaits it.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Baton chat — {} FAQs, {} intents. Type a message; Ctrl-D to quit.",
        knowledge.index.len(),
        knowledge.content.intents.len()
    )?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        // No agents in a terminal chat: only business hours decide what the shopper hears.
        let message = dialogue::bot::Message {
            text: &line,
            locale: lang,
            facts: facts.clone(),
            memory: &memory,
            at: jiff::Timestamp::now(),
            order: None,
        };
        let plan = runtime.block_on(dialogue::respond(
            &knowledge,
            &config,
            message,
            Compute::Inline,
            // Nobody to wait for: a human-first group gets the bot's answers.
            |skill| dialogue::reception::Staffing {
                availability: Availability::from_hours(
                    &config.hours,
                    skill,
                    jiff::Timestamp::now(),
                ),
                wait_ms: None,
            },
        ))?;
        let Some(turn) = plan.turn.as_ref() else {
            continue;
        };
        let intent = turn.intent.as_ref();
        let best_faq = turn.faq_candidates.first();
        writeln!(
            out,
            "  [intent {} {:.2}{} | faq {} | {:?}{}]",
            intent.map_or("-", |i| i.label.as_str()),
            intent.map_or(0.0, |i| i.confidence),
            if intent.is_some_and(|i| i.out_of_scope) {
                " (out of scope)"
            } else {
                ""
            },
            best_faq.map_or("-".to_string(), |h| format!(
                "{} {:.2}",
                h.faq_id, h.confidence
            )),
            turn.decision,
            turn.reason
                .map(|r| format!(" {}", r.as_str()))
                .unwrap_or_default(),
        )?;
        for r in &plan.replies {
            writeln!(out, "{}: {}", r.author.as_str(), r.text)?;
            for s in &r.meta.suggestions {
                writeln!(out, "    • {}", s.question)?;
            }
        }
        facts = plan.next_facts(&facts);
        if let Some(m) = plan.memory {
            memory = m;
        }
        if let Some(e) = plan.escalation {
            writeln!(
                out,
                "  [handed over to skill group {:?}, priority {}; the conversation starts over]",
                e.skill,
                e.priority.as_str()
            )?;
            // No agent in a terminal will take it: the bot has the conversation again.
            facts.state = crate::conversation::ConversationState::Bot;
        }
    }
    Ok(ExitCode::SUCCESS)
}
