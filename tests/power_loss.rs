//! Power loss, not just kill -9: the appliance runs on forgetfs, a FUSE
//! filesystem that forgets every write not yet made durable. Leads are
//! posted from many connections; at a random moment the power is cut (every
//! later filesystem operation fails) and the appliance killed at the same
//! instant; the disk rolls back to what was synced (whole, or torn by page)
//! with strict directories; the appliance restarts on it. It must start, know
//! its duplicate window, hold every acknowledged lead, and send each side
//! effect (webhook alert, buyer delivery, dial release) that it had not
//! recorded as sent, and none that it had.
//!
//! The negative control runs the same cuts on the measurement-only
//! `ceiling` build with `nosync`: it must lose acknowledged leads, or the
//! test is blind. `POWER_ROUNDS=100` for the long run (README).

#[path = "common/forgetfs/mod.rs"]
mod forgetfs;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/util.rs"]
mod util;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use forgetfs::{mount, Cut, CutReport, Mounted};
use peers::HttpReceiver;
use util::*;

const CAMPAIGN: &str = "PowerLossCampaign000000000000001";

struct Peers {
    hook: HttpReceiver,
    buyer: HttpReceiver,
    dialer: HttpReceiver,
}

/// Leads to a webhook alert, a buyer and a dial queue, on the mount.
fn config(data: &Path, p: &Peers) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{data}"
[storage]
map_size_mb = 256
[admin]
token = "{TOKEN}"
[intake]
dns_check = false
web_branch = ""
[outbox]
backoff_ms = 200
[dialer]
account_code = "ACCOUNT-1"
backend = "webhook"
webhook_url = "{dial}"
dispatch_interval_ms = 20
[[dialer.campaigns]]
id = 1
name = "Power"
type = "smart"
code = "{CAMPAIGN}"
queue_max_callers = 500
coefficient = 4
[[alerts]]
event = "WebApi_New_Client_Reg"
action = "webhook"
to = "{hook}"
[[buyers]]
id = 1
name = "Buyer"
api_key_sha256 = "{key}"
[[rules]]
id = 1
buyer = 1
method = "post_form"
url = "{buy}"
routing_id_param = "r"
profiles = [1]
fields = {{ phone1 = "tel" }}
{profile}"#,
        data = data.display(),
        dial = p.dialer.url("/originate"),
        hook = p.hook.url("/hook"),
        buy = p.buyer.url("/buy"),
        key = "0".repeat(64),
        profile = Profile::new(1, "leads")
            .text("dialer_campaign", CAMPAIGN)
            .rows(&[("Phone", "clients", "phone1")]),
    )
}

/// A build of dataport and how to run it.
struct Build {
    exe: PathBuf,
    env: Vec<(&'static str, &'static str)>,
}

/// One appliance life after another on one forgetfs disk.
struct Rig {
    _dir: tempfile::TempDir,
    backing: PathBuf,
    mnt: PathBuf,
    cfg: PathBuf,
    log: PathBuf,
    peers: Peers,
    build: Build,
    /// (wall clock as the appliance writes it, instant) of each start.
    starts: Vec<(String, Instant)>,
    rng: u64,
}

impl Rig {
    fn new(build: Build, seed: u64) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let (backing, mnt) = (dir.path().join("disk"), dir.path().join("mnt"));
        std::fs::create_dir(&backing).unwrap();
        std::fs::create_dir(&mnt).unwrap();
        let peers = Peers {
            hook: HttpReceiver::start(&[]),
            buyer: HttpReceiver::start(&[]),
            dialer: HttpReceiver::start(&[]),
        };
        let cfg = dir.path().join("dataport.toml");
        std::fs::write(&cfg, config(&mnt.join("data"), &peers)).unwrap();
        Rig {
            log: dir.path().join("dataport.log"),
            _dir: dir,
            backing,
            mnt,
            cfg,
            peers,
            build,
            starts: Vec::new(),
            rng: seed | 1,
        }
    }

    fn random(&mut self, below: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % below
    }

    /// Starts the appliance on the mounted disk; Err with its log when it
    /// does not come up.
    fn start(&mut self) -> Result<Binary, String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        self.starts.push((
            dataport::clock::rfc3339_utc(now.as_millis() as u64),
            Instant::now(),
        ));
        let mut cmd = Command::new(&self.build.exe);
        cmd.args(["serve", "--config"])
            .arg(&self.cfg)
            .env("DATAPORT_LOG", "warn")
            .envs(self.build.env.iter().copied())
            .stderr(Stdio::from(std::fs::File::create(&self.log).unwrap()));
        Binary::from_command(cmd).map_err(|line| {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            format!("first line {line:?}, log:\n{log}")
        })
    }
}

/// What the senders got: acknowledged (phone, id) and how many were refused.
type Posted = (Vec<(String, u64)>, usize);

/// Posts new leads from 8 connections until `stop`, counting acks in `acks`.
fn load(
    addr: std::net::SocketAddr,
    round: u64,
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<Posted>> {
    (0..8u64)
        .map(|t| {
            let (stop, acks) = (stop.clone(), acks.clone());
            std::thread::spawn(move || {
                let mut out: Posted = (Vec::new(), 0);
                for i in 0..1000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let phone = format!("0522{:02}{t}{i:03}", round % 100);
                    let req =
                        format!("GET /leads?Phone={phone} HTTP/1.1\r\nConnection: close\r\n\r\n");
                    let Some(r) = std::panic::catch_unwind(|| raw(addr, req.as_bytes()))
                        .ok()
                        .flatten()
                    else {
                        break;
                    };
                    match (r.status, r.code().as_str()) {
                        (200, "000") => {
                            acks.fetch_add(1, Ordering::Relaxed);
                            out.0.push((
                                format!("972{}", &phone[1..]),
                                r.json()["RecordId"].as_u64().unwrap(),
                            ))
                        }
                        _ => out.1 += 1,
                    }
                }
                out
            })
        })
        .collect()
}

/// One life: start on the disk, check what the last cut left, take load,
/// cut the power at a random moment. Err when the appliance did not start.
fn life(
    rig: &mut Rig,
    round: u64,
    cut: Cut,
    acked: &mut HashMap<String, u64>,
    last: &[(String, u64)],
) -> Result<(Vec<(String, u64)>, CutReport), String> {
    let m = mount(&rig.backing, &rig.mnt, true);
    let b = rig.start()?;
    check_store(b.addr, acked, last)?;
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicU64::new(0));
    let workers = load(b.addr, round, stop.clone(), acks.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while acks.load(Ordering::Relaxed) == 0 {
        assert!(
            Instant::now() < deadline,
            "round {round}: no lead acknowledged within 30 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(rig.random(400)));
    // The cut: the disk stops, and the process dies with it.
    m.power_off();
    b.kill9();
    stop.store(true, Ordering::Relaxed);
    let mut this = Vec::new();
    for w in workers {
        this.extend(w.join().unwrap().0);
    }
    let report = m.restore(cut);
    for (phone, id) in &this {
        acked.insert(phone.clone(), *id);
    }
    Ok((this, report))
}

/// Every acknowledged lead is stored under its id, once; the window knows
/// the last life's leads.
fn check_store(
    addr: std::net::SocketAddr,
    acked: &HashMap<String, u64>,
    last: &[(String, u64)],
) -> Result<(), String> {
    let stored = all_clients(addr);
    let by_phone: HashMap<&str, u64> = stored.iter().map(|(id, p)| (p.as_str(), *id)).collect();
    if by_phone.len() != stored.len() {
        return Err(format!(
            "a phone stored twice among {} clients",
            stored.len()
        ));
    }
    let lost: Vec<_> = acked
        .iter()
        .filter(|(p, id)| by_phone.get(p.as_str()) != Some(id))
        .collect();
    if !lost.is_empty() {
        return Err(format!(
            "{} of {} acknowledged leads lost, e.g. {:?}",
            lost.len(),
            acked.len(),
            &lost[..lost.len().min(5)]
        ));
    }
    for (phone, _) in last.iter().step_by((last.len() / 5).max(1)) {
        let again = get(addr, &format!("/leads?Phone=0{}", &phone[3..]));
        if again.code() != "006" {
            return Err(format!(
                "the duplicate window forgot {phone}: {}",
                again.body
            ));
        }
    }
    Ok(())
}

/// The side effects of every acknowledged lead, once the outbox and the
/// dial queue have drained: each was sent, and none that the appliance had
/// recorded as sent before a cut was sent again after it.
fn check_side_effects(rig: &Rig, addr: std::net::SocketAddr, acked: &HashMap<String, u64>) {
    let deadline = Instant::now()
        + Duration::from_secs(
            std::env::var("POWER_DRAIN_S")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(180),
        );
    // Polled through a filter that stops at the first pending record, not
    // by listing everything (which, every 200 ms over 90k records, would
    // starve the senders it waits for).
    let pending = |collection: &str| {
        let page = admin_json(
            addr,
            &format!("/admin/v1/{collection}?status=pending&limit=1"),
        );
        !page["data"].as_array().unwrap().is_empty()
    };
    while pending("outbox") || pending("calls") {
        if Instant::now() > deadline {
            let (outbox, calls) = (all_records(addr, "outbox"), all_records(addr, "calls"));
            let mut by: HashMap<String, usize> = HashMap::new();
            for o in &outbox {
                *by.entry(format!("{} {}", o["channel"], o["status"]))
                    .or_default() += 1;
            }
            for c in &calls {
                *by.entry(format!("call {}", c["status"])).or_default() += 1;
            }
            panic!("side effects still not sent after the deadline: {by:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let (outbox, calls) = (all_records(addr, "outbox"), all_records(addr, "calls"));
    for o in &outbox {
        assert_eq!(o["status"], "sent", "{o}");
    }
    for c in &calls {
        assert_eq!(c["status"], "released", "{c}");
    }
    // (what identifies it in a request, when it was recorded as sent, who gets it)
    let mut effects: HashMap<String, (String, &HttpReceiver)> = HashMap::new();
    for o in &outbox {
        let finished = o["finished_at"].as_str().unwrap().to_string();
        match o["channel"].as_str().unwrap() {
            "webhook" => {
                let key = format!("\"record\":\"{}\"", o["record"].as_str().unwrap());
                effects.insert(key, (finished, &rig.peers.hook));
            }
            "delivery" => {
                let body: serde_json::Value =
                    serde_json::from_str(o["body"].as_str().unwrap()).unwrap();
                let tel = body["params"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p[0] == "tel")
                    .unwrap()[1]
                    .clone();
                effects.insert(
                    format!("tel={}", tel.as_str().unwrap()),
                    (finished, &rig.peers.buyer),
                );
            }
            other => panic!("an outbox item of channel {other}"),
        }
    }
    for c in &calls {
        let key = format!("\"Phone\":\"{}\"", c["phone"].as_str().unwrap());
        effects.insert(
            key,
            (
                c["released_at"].as_str().unwrap().to_string(),
                &rig.peers.dialer,
            ),
        );
    }
    for (phone, id) in acked {
        for key in [
            format!("\"record\":\"clients/{id}\""),
            format!("tel={phone}"),
            format!("\"Phone\":\"{phone}\""),
        ] {
            assert!(
                effects.contains_key(&key),
                "no side effect {key} for acknowledged lead {phone}"
            );
        }
    }
    // Each receiver's requests, indexed once by the key that names them.
    let arrivals = |peer: &HttpReceiver, key_of: &dyn Fn(&str) -> Option<String>| {
        let mut by_key: HashMap<String, Vec<Instant>> = HashMap::new();
        for r in peer.got() {
            if let Some(k) = key_of(&r.body) {
                by_key.entry(k).or_default().push(r.at);
            }
        }
        by_key
    };
    let between = |body: &str, start: &str, end: char| {
        let i = body.find(start)? + start.len();
        let rest = &body[i..];
        Some(format!(
            "{start}{}{}",
            &rest[..rest.find(end).unwrap_or(rest.len())],
            if end == '"' { "\"" } else { "" }
        ))
    };
    let hooks = arrivals(&rig.peers.hook, &|b| between(b, "\"record\":\"", '"'));
    let buys = arrivals(&rig.peers.buyer, &|b| between(b, "tel=", '&'));
    let dials = arrivals(&rig.peers.dialer, &|b| between(b, "\"Phone\":\"", '"'));
    let mut resent = Vec::new();
    for (key, (finished, peer)) in &effects {
        let index = if std::ptr::eq(*peer, &rig.peers.hook) {
            &hooks
        } else if std::ptr::eq(*peer, &rig.peers.buyer) {
            &buys
        } else {
            &dials
        };
        let got = index.get(key).map(Vec::as_slice).unwrap_or_default();
        assert!(!got.is_empty(), "{key} recorded as sent, never received");
        // The first start after it was recorded as sent: nothing after it.
        let Some((_, restart)) = rig.starts.iter().find(|(wall, _)| wall > finished) else {
            continue;
        };
        if got.iter().any(|at| at > restart) {
            resent.push(key.clone());
        }
    }
    assert!(
        resent.is_empty(),
        "recorded as sent before a cut, sent again after it: {resent:?}"
    );
}

/// The acknowledged leads, the appliance started after the last cut (with
/// its disk), or what broke, and what the cuts threw away.
type Rounds = (
    HashMap<String, u64>,
    Result<(Binary, Mounted), String>,
    CutReport,
);

/// Runs `rounds` lives with a cut each (even rounds plain, odd torn), then
/// one more start. Err names the first round whose restart broke a promise.
fn cut_rounds(rig: &mut Rig, rounds: u64) -> Rounds {
    let mut acked = HashMap::new();
    let mut last = Vec::new();
    let mut total = CutReport::default();
    for round in 0..rounds {
        let cut = if round % 2 == 0 {
            Cut::Plain
        } else {
            Cut::Torn(rig.random(u64::MAX))
        };
        match life(rig, round, cut, &mut acked, &last) {
            Ok((this, report)) => {
                last = this;
                total.files_rolled_back += report.files_rolled_back;
                total.pages_lost += report.pages_lost;
                total.pages_kept += report.pages_kept;
                total.entries_undone += report.entries_undone;
            }
            Err(e) if round == 0 => return (acked, Err(format!("first start: {e}")), total),
            Err(e) => {
                let e = format!("restart after cut {}: {e}", round - 1);
                return (acked, Err(e), total);
            }
        }
    }
    let m = mount(&rig.backing, &rig.mnt, true);
    let end = rig
        .start()
        .map_err(|e| format!("after the last cut: {e}"))
        .and_then(|b| {
            check_store(b.addr, &acked, &last)
                .map(|()| (b, m))
                .map_err(|e| format!("after the last cut: {e}"))
        });
    (acked, end, total)
}

fn seed() -> u64 {
    std::env::var("POWER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

#[test]
fn a_power_cut_loses_no_acknowledged_lead_and_no_side_effect() {
    // CI runs 10 rounds; `POWER_ROUNDS=100` for the documented long run.
    let rounds: u64 = std::env::var("POWER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seed = seed();
    let build = Build {
        exe: env!("CARGO_BIN_EXE_dataport").into(),
        env: Vec::new(),
    };
    let mut rig = Rig::new(build, seed);
    let (acked, end, report) = cut_rounds(&mut rig, rounds);
    let (b, mounted) = end.unwrap_or_else(|e| panic!("POWER_SEED={seed}: {e}"));
    assert!(
        report.pages_lost > 0,
        "the cuts threw nothing away: the test is blind ({report:?})"
    );
    check_side_effects(&rig, b.addr, &acked);
    eprintln!(
        "power cut x{rounds} (POWER_SEED={seed}, strict directories, plain and torn): {} acknowledged, 0 lost; the cuts dropped {} unsynced pages, kept {} torn, undid {} directory entries",
        acked.len(), report.pages_lost, report.pages_kept, report.entries_undone
    );
    b.kill9();
    drop(mounted);
}

/// The `ceiling` build (measurement only) with `nosync`, built on demand
/// into its own target directory so the tested binary is not replaced.
fn nosync_build() -> Build {
    let exe = Path::new(env!("CARGO_BIN_EXE_dataport"));
    let target = exe.parent().unwrap().parent().unwrap().join("ceiling");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--features",
            "ceiling",
            "--bin",
            "dataport",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build for the ceiling build");
    assert!(
        out.status.success(),
        "building the ceiling build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Build {
        exe: target.join("debug/dataport"),
        env: vec![("DATAPORT_CEILING", "nosync")],
    }
}

#[test]
fn negative_control_the_nosync_build_loses_acknowledged_leads() {
    let seed = seed();
    let mut rig = Rig::new(nosync_build(), seed);
    let (acked, end, _) = cut_rounds(&mut rig, 2);
    assert!(!acked.is_empty());
    let e = match end {
        Ok((b, _mounted)) => {
            b.kill9();
            panic!("POWER_SEED={seed}: the nosync build lost nothing of {} acknowledged leads: the power-loss test is blind", acked.len());
        }
        Err(e) => e,
    };
    eprintln!("negative control (nosync): {e}");
    assert!(e.contains("lost") || e.contains("first line"), "{e}");
}
