//! Cluster mode (issue 22) against a real NATS JetStream cluster on
//! loopback and real appliance processes: one hour window for the cluster,
//! and what a node does when NATS cannot be reached.

#[path = "common/nats.rs"]
mod nats;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/util.rs"]
mod util;

use std::time::{Duration, Instant};

use nats::NatsCluster;
use util::*;

/// An appliance process as node `node` of the cluster at `urls`.
fn node(
    dir: &tempfile::TempDir,
    node: u16,
    urls: &str,
    replicas: usize,
    on_unreachable: &str,
) -> Binary {
    node_with(dir, node, urls, replicas, on_unreachable, "", "")
}

fn node_with(
    dir: &tempfile::TempDir,
    node: u16,
    urls: &str,
    replicas: usize,
    on_unreachable: &str,
    storage: &str,
    extra: &str,
) -> Binary {
    let data = dir.path().join(format!("data{node}"));
    let tail = format!(
        "[cluster]\nnode_id = {node}\nnats_urls = {urls}\nreplicas = {replicas}\non_unreachable = \"{on_unreachable}\"\ntimeout_ms = 1000\n{extra}"
    );
    let cfg = dir.path().join(format!("node{node}.toml"));
    std::fs::write(&cfg, config_text_with_tail(&data, "", storage, &tail)).unwrap();
    Binary::start(&cfg)
}

fn health(b: &Binary) -> (u16, String) {
    let r = get(b.addr, "/health");
    (r.status, r.body)
}

/// Waits (at most 30 s) until the node's `/health` body contains `want`.
fn wait_health(b: &Binary, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = health(b);
        if body.contains(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "health never said {want}: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_hour_window_is_one_for_the_cluster() {
    let nats = NatsCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let urls = nats.urls_toml();
    let a = node(&dir, 1, &urls, 3, "accept");
    let b = node(&dir, 2, &urls, 3, "accept");
    wait_health(&a, "\"cluster\":\"connected\"");
    wait_health(&b, "\"cluster\":\"connected\"");

    // Accepted by A, a duplicate at B within the window; and the other way.
    let lead = "/leads?Phone=0522301001&FirstName=Dana";
    let first = get(a.addr, lead);
    assert_eq!(first.code(), "000");
    // Ids are unique in the cluster: the node's id in their low 10 bits.
    let id = first.json()["RecordId"].as_u64().unwrap();
    assert_eq!((id & 1023, id >> 10), (1, 1), "node 1's first id: {id}");
    assert_eq!(get(b.addr, lead).code(), "006", "B knows A's post");
    assert_eq!(get(a.addr, lead).code(), "006");
    let other = "/leads?Phone=0522301002&FirstName=Avi";
    let second = get(b.addr, other);
    assert_eq!(second.code(), "000");
    let id = second.json()["RecordId"].as_u64().unwrap();
    assert_eq!((id & 1023, id >> 10), (2, 1), "node 2's first id: {id}");
    let c = admin_json(b.addr, &format!("/admin/v1/clients/{id}"));
    assert_eq!(c["first_name"], "Avi");
    assert_eq!(get(a.addr, other).code(), "006", "A knows B's post");

    // The same new post at both nodes at the same instant: one 000.
    let mut codes = Vec::new();
    for i in 0..20 {
        let lead = format!("/leads?Phone=05223020{i:02}&FirstName=Race");
        let (la, lb) = (lead.clone(), lead);
        let (aa, ba) = (a.addr, b.addr);
        let ta = std::thread::spawn(move || get(aa, &la).code());
        let tb = std::thread::spawn(move || get(ba, &lb).code());
        let mut pair = [ta.join().unwrap(), tb.join().unwrap()];
        pair.sort();
        codes.push(pair);
    }
    assert!(
        codes.iter().all(|p| p == &["000".to_string(), "006".to_string()]),
        "each raced post is accepted once: {codes:?}; A won {} lost {} unreachable {}, B won {} lost {} unreachable {}",
        metric(a.addr, "dataport_cluster_claims_won_total"),
        metric(a.addr, "dataport_cluster_claims_lost_total"),
        metric(a.addr, "dataport_cluster_unreachable_total"),
        metric(b.addr, "dataport_cluster_claims_won_total"),
        metric(b.addr, "dataport_cluster_claims_lost_total"),
        metric(b.addr, "dataport_cluster_unreachable_total"),
    );
    let lost = metric(a.addr, "dataport_cluster_claims_lost_total")
        + metric(b.addr, "dataport_cluster_claims_lost_total");
    assert!(lost >= 20, "the claims lost are counted: {lost}");
    assert_eq!(metric(a.addr, "dataport_cluster_connected"), 1);

    // A post whose record is not stored gives its claim back: node C's
    // map is full (004), so the same post at B is new, not 006.
    let c = node_with(&dir, 3, &urls, 3, "accept", "map_size_mb = 1", "");
    wait_health(&c, "\"cluster\":\"connected\"");
    let full = (0..20_000)
        .map(|i| format!("/leads?Phone=05473{i:05}&Notes={}", "x".repeat(200)))
        .find(|lead| get(c.addr, lead).code() == "004")
        .expect("a 1 MiB map fills up");
    assert_eq!(get(b.addr, &full).code(), "000", "C gave its claim back");
}

#[test]
fn without_nats_accept_answers_alone_and_refuse_answers_005() {
    let mut nats = NatsCluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let urls = nats.urls_toml();
    let a = node(&dir, 1, &urls, 1, "accept");
    let r = node(&dir, 2, &urls, 1, "refuse");
    wait_health(&a, "\"cluster\":\"connected\"");
    wait_health(&r, "\"cluster\":\"connected\"");
    assert_eq!(get(r.addr, "/leads?Phone=0522304001").code(), "000");

    nats.kill_all();
    wait_health(&a, "unreachable");
    wait_health(&r, "unreachable");
    assert_eq!(health(&a).0, 200, "accept keeps serving: {:?}", health(&a));
    assert_eq!(health(&r).0, 503, "refuse says so: {:?}", health(&r));
    assert_eq!(metric(a.addr, "dataport_cluster_connected"), 0);
    assert_eq!(
        get(a.addr, "/leads?Phone=0522304002").code(),
        "000",
        "accept: this node decides"
    );
    assert_eq!(
        get(a.addr, "/leads?Phone=0522304002").code(),
        "006",
        "from its own window"
    );
    let refused = get(r.addr, "/leads?Phone=0522304003");
    assert_eq!(refused.code(), "005", "{}", refused.body);
    assert!(metric(a.addr, "dataport_cluster_unreachable_total") >= 1);

    // NATS back: the refusing node serves again, and its refusal kept
    // nothing (the post is new).
    nats.restart_all();
    wait_health(&r, "\"cluster\":\"connected\"");
    assert_eq!(health(&r).0, 200);
    assert_eq!(get(r.addr, "/leads?Phone=0522304003").code(), "000");
}

#[test]
fn check_config_validates_the_cluster_section() {
    let bad = "[cluster]\nnode_id = 0\nnats_urls = [\"nats://127.0.0.1\"]\nreplicas = 7\non_unreachable = \"maybe\"\n";
    let errors = dataport::config::Config::from_toml(bad).unwrap_err();
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    for needle in [
        "cluster.node_id",
        "\"nats://127.0.0.1\" is not nats://host:port",
        "cluster.replicas",
        "\"maybe\": must be \"accept\" or \"refuse\"",
    ] {
        assert!(
            text.iter().any(|t| t.contains(needle)),
            "missing {needle:?} in {text:?}"
        );
    }
    let good = "[intake]\nweb_branch = \"\"\n[cluster]\nnode_id = 3\nnats_urls = [\"nats://127.0.0.1:4222\", \"tls://nats.example:4222\"]\n";
    let cfg = dataport::config::Config::from_toml(good).unwrap();
    assert_eq!(cfg.raw.cluster.unwrap().on_unreachable, "accept");
    assert!(dataport::config::Config::from_toml("[intake]\nweb_branch = \"\"\n[cluster]\nnode_id = 1\nnats_urls = [\"nats://h:1\"]\nnodeid = 2\n").is_err(), "unknown keys are errors");
}

#[test]
fn a_configuration_change_made_on_one_node_applies_on_every_node() {
    let nats = NatsCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let urls = nats.urls_toml();
    let a = node(&dir, 1, &urls, 3, "accept");
    let b = node(&dir, 2, &urls, 3, "accept");
    wait_health(&a, "\"cluster\":\"connected\"");
    wait_health(&b, "\"cluster\":\"connected\"");

    // A new profile through A's admin API serves at B.
    assert_eq!(get(b.addr, "/shared?Phone=0522305001").code(), "003");
    let profile = r#"{"number": 41, "form_name": "shared", "fields": [{"external": "Phone", "table": "clients", "field": "phone1"}]}"#;
    let r = admin_send(a.addr, "POST", "/admin/v1/profiles", profile);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        eventually(|| get(b.addr, "/shared?Phone=0522305001").code() == "000"),
        "B never served A's new profile"
    );
    let shown = admin_json(b.addr, "/admin/v1/profiles/41");
    assert_eq!(shown["form_name"], "shared");

    // A node that starts later catches up from the bucket.
    let c = node(&dir, 3, &urls, 3, "accept");
    wait_health(&c, "\"cluster\":\"connected\"");
    assert!(
        eventually(|| get(c.addr, "/shared?Phone=0522305002").code() == "000"),
        "C never caught up with the profile"
    );

    // Deleted at B: gone at A and C.
    let r = admin_send(b.addr, "DELETE", "/admin/v1/profiles/41", "");
    assert_eq!(r.status, 204, "{}", r.body);
    for n in [&a, &c] {
        assert!(
            eventually(|| get(n.addr, "/shared?Phone=0522305003").code() == "003"),
            "the deletion never reached {}",
            n.addr
        );
    }
}

#[test]
fn a_configuration_change_is_refused_while_nats_is_away() {
    let mut nats = NatsCluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let a = node(&dir, 1, &nats.urls_toml(), 1, "accept");
    wait_health(&a, "\"cluster\":\"connected\"");
    nats.kill_all();
    wait_health(&a, "unreachable");
    let profile = r#"{"number": 42, "form_name": "alone", "fields": [{"external": "Phone", "table": "clients", "field": "phone1"}]}"#;
    let r = admin_send(a.addr, "POST", "/admin/v1/profiles", profile);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("nothing was changed"), "{}", r.body);
    assert_eq!(get(a.addr, "/alone?Phone=0522306001").code(), "003");
}

#[test]
fn every_node_holds_the_whole_crm_and_side_effects_happen_once() {
    let nats = NatsCluster::start(3);
    let hook = peers::HttpReceiver::start(&[]);
    let alert = format!(
        "[[alerts]]\nevent = \"WebApi_New_Client_Reg\"\naction = \"webhook\"\nto = \"{}\"\n",
        hook.url("/hook")
    );
    let dir = tempfile::tempdir().unwrap();
    let urls = nats.urls_toml();
    let a = node_with(&dir, 1, &urls, 3, "accept", "", &alert);
    let b = node_with(&dir, 2, &urls, 3, "accept", "", &alert);
    wait_health(&a, "\"cluster\":\"connected\"");
    wait_health(&b, "\"cluster\":\"connected\"");

    // A client with a contact, taken by A, is held by B under the same id.
    let r = get(
        a.addr,
        "/leads?Phone=0522308001&FirstName=Dana&Email=Dana@X.example&Boss=Ron",
    );
    assert_eq!(r.code(), "000", "{}", r.body);
    let id = r.json()["RecordId"].as_u64().unwrap();
    let on = |n: &Binary, what: &str| admin(n.addr, &format!("/admin/v1/{what}"));
    assert!(
        eventually(|| on(&b, &format!("clients/{id}")).status == 200),
        "B never received client {id}"
    );
    let at_a = admin_json(a.addr, &format!("/admin/v1/clients/{id}"));
    assert!(eventually(|| admin_json(
        b.addr,
        &format!("/admin/v1/clients/{id}")
    ) == at_a));
    let contact = at_a["contacts"][0].as_u64().unwrap();
    assert!(eventually(
        || on(&b, &format!("contacts/{contact}")).status == 200
    ));
    // B's indexes know A's client: found by phone in another form, and the
    // same person posting at B is A's client (001, A's id).
    let found = admin_json(b.addr, "/admin/v1/clients?q=052-230-8001");
    assert_eq!(found["data"][0]["id"], id, "{found}");
    let again = get(b.addr, "/leads?Phone=0522308001&FirstName=Dana&City=Haifa");
    assert_eq!(again.code(), "001", "{}", again.body);
    assert_eq!(again.json()["RecordId"], id);
    // The logs travel too: every usage entry A made is in B's log, same id.
    let ids_of = |n: &Binary, what: &str| -> Vec<u64> {
        all_records(n.addr, what)
            .iter()
            .map(|u| u["id"].as_u64().unwrap())
            .filter(|id| id & 1023 == 1)
            .collect()
    };
    let a_usage = ids_of(&a, "usage_log");
    assert!(!a_usage.is_empty());
    assert!(
        eventually(|| {
            let at_b = ids_of(&b, "usage_log");
            a_usage.iter().all(|id| at_b.contains(id))
        }),
        "A's usage log never reached B"
    );
    // The new-client alert went out once in the cluster, from A.
    assert!(eventually(|| hook.got().iter().any(|h| h
        .body
        .contains(&format!("\"record\":\"clients/{id}\"")))));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let sent = hook
        .got()
        .iter()
        .filter(|h| h.body.contains(&format!("\"record\":\"clients/{id}\"")))
        .count();
    assert_eq!(sent, 1, "one alert for one client, not one per node");

    // B killed; A takes three leads; B restarted catches up from the stream.
    b.kill9();
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = get(a.addr, &format!("/leads?Phone=05223082{i:02}"));
        assert_eq!(r.code(), "000");
        ids.push(r.json()["RecordId"].as_u64().unwrap());
    }
    let b = Binary::start(&dir.path().join("node2.toml"));
    for id in ids {
        assert!(
            eventually(|| on(&b, &format!("clients/{id}")).status == 200),
            "restarted B never caught up with client {id}"
        );
    }
    assert!(metric(b.addr, "dataport_cluster_records_applied_total") >= 3);
    let page = get(b.addr, "/metrics").body;
    assert!(
        page.contains("dataport_cluster_apply_lag_seconds{origin=\"1\"} "),
        "B reports how far behind node 1 it applies: {page}"
    );
    assert!(metric(a.addr, "dataport_cluster_records_published_total") >= 3);
}

#[test]
fn one_client_per_person_across_nodes_even_when_posted_at_once() {
    let nats = NatsCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let urls = nats.urls_toml();
    let a = node(&dir, 1, &urls, 3, "accept");
    let b = node(&dir, 2, &urls, 3, "accept");
    wait_health(&a, "\"cluster\":\"connected\"");
    wait_health(&b, "\"cluster\":\"connected\"");

    // The same new person through two profiles (two different posts, so
    // the window lets both through) at two nodes at the same instant.
    let mut outcomes = Vec::new();
    for i in 0..30 {
        let (aa, ba) = (a.addr, b.addr);
        let ta = std::thread::spawn(move || {
            get(aa, &format!("/leads?Phone=05223090{i:02}&FirstName=A"))
        });
        let tb = std::thread::spawn(move || {
            get(ba, &format!("/leads2?Phone=05223090{i:02}&FirstName=B"))
        });
        let (ra, rb) = (ta.join().unwrap(), tb.join().unwrap());
        let mut codes = [ra.code(), rb.code()];
        codes.sort();
        let ids = (
            ra.json()["RecordId"].as_u64(),
            rb.json()["RecordId"].as_u64(),
        );
        outcomes.push((i, codes, ids));
    }
    for (i, codes, (ia, ib)) in &outcomes {
        assert_eq!(
            codes,
            &["000".to_string(), "001".to_string()],
            "phone {i}: {outcomes:?}"
        );
        assert_eq!(
            ia, ib,
            "phone {i}: both answers name one client: {outcomes:?}"
        );
    }
    // Every node converges on the same 30 clients.
    let clients = |n: &Binary| {
        let mut v: Vec<(u64, String)> = all_clients(n.addr);
        v.sort();
        v
    };
    assert!(eventually(
        || clients(&a).len() == 30 && clients(&a) == clients(&b)
    ));
    assert!(
        metric(a.addr, "dataport_cluster_person_claims_lost_total")
            + metric(b.addr, "dataport_cluster_person_claims_lost_total")
            >= 30
    );
    assert_eq!(
        metric(a.addr, "dataport_cluster_claim_waits_expired_total")
            + metric(b.addr, "dataport_cluster_claim_waits_expired_total"),
        0
    );
}

#[test]
fn a_person_made_a_client_on_two_nodes_during_an_outage_is_kept_twice_and_flagged() {
    let mut nats = NatsCluster::start(1);
    let hook = peers::HttpReceiver::start(&[]);
    let alert = format!(
        "[[alerts]]\nevent = \"Cluster_Possible_Duplicate\"\naction = \"webhook\"\nto = \"{}\"\n",
        hook.url("/dup")
    );
    let dir = tempfile::tempdir().unwrap();
    let urls = nats.urls_toml();
    let a = node_with(&dir, 1, &urls, 1, "accept", "", &alert);
    let b = node_with(&dir, 2, &urls, 1, "accept", "", &alert);
    wait_health(&a, "\"cluster\":\"connected\"");
    wait_health(&b, "\"cluster\":\"connected\"");

    nats.kill_all();
    wait_health(&a, "unreachable");
    wait_health(&b, "unreachable");
    // The same new person at both nodes, each deciding alone.
    let first = get(a.addr, "/leads?Phone=0522310001&FirstName=Early");
    assert_eq!(first.code(), "000");
    let earlier = first.json()["RecordId"].as_u64().unwrap();
    let second = get(b.addr, "/leads2?Phone=0522310001&FirstName=Late");
    assert_eq!(second.code(), "000");
    let later = second.json()["RecordId"].as_u64().unwrap();
    assert_ne!(earlier, later);

    // NATS back: the outbox drains, the nodes converge, both clients kept,
    // the later flagged on both nodes, one alert in the cluster.
    nats.restart_all();
    for n in [&a, &b] {
        assert!(
            eventually_for(30, || {
                let r = admin(n.addr, &format!("/admin/v1/clients/{later}"));
                r.status == 200 && r.json()["possible_duplicate_of"] == earlier
            }),
            "{} never flagged client {later}",
            n.addr
        );
        assert!(eventually_for(30, || admin(
            n.addr,
            &format!("/admin/v1/clients/{earlier}")
        )
        .status
            == 200));
        let kept = admin_json(n.addr, &format!("/admin/v1/clients/{earlier}"));
        assert_eq!(kept["first_name"], "Early");
        assert!(kept.get("possible_duplicate_of").is_none(), "{kept}");
        let flagged = admin_json(
            n.addr,
            &format!("/admin/v1/clients?possible_duplicate_of={earlier}"),
        );
        assert_eq!(flagged["data"].as_array().unwrap().len(), 1, "{flagged}");
    }
    assert!(eventually_for(30, || hook.got().len() == 1));
    std::thread::sleep(std::time::Duration::from_secs(1));
    let alerts = hook.got();
    assert_eq!(
        alerts.len(),
        1,
        "one alert, from the node that made the later client"
    );
    assert!(
        alerts[0]
            .body
            .contains(&format!("\"record\":\"clients/{later}\"")),
        "{}",
        alerts[0].body
    );
}

/// As `eventually`, for up to `secs` seconds.
fn eventually_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Three NATS nodes and three appliances.
fn three_nodes(nats: &NatsCluster, dir: &tempfile::TempDir) -> Vec<Binary> {
    let urls = nats.urls_toml();
    let nodes: Vec<Binary> = (1..=3).map(|n| node(dir, n, &urls, 3, "accept")).collect();
    for n in &nodes {
        wait_health(n, "\"cluster\":\"connected\"");
    }
    nodes
}

/// Every client of every node, sorted, as JSON.
fn crm_of(n: &Binary) -> Vec<serde_json::Value> {
    let mut v = all_records(n.addr, "clients");
    v.sort_by_key(|c| c["id"].as_u64());
    v
}

#[test]
fn a_thousand_concurrent_posts_of_a_hundred_people_make_a_hundred_clients_everywhere() {
    let nats = NatsCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let nodes = three_nodes(&nats, &dir);
    let addrs: Vec<_> = nodes.iter().map(|n| n.addr).collect();
    // 10 threads, each posting all 100 phones, spread over the nodes.
    let workers: Vec<_> = (0..10)
        .map(|t| {
            let addrs = addrs.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|i| {
                        let at = addrs[(t + i) % 3];
                        get(at, &format!("/leads?Phone=05223111{i:02}")).code()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let codes: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let new = codes.iter().filter(|c| *c == "000").count();
    assert_eq!(
        new,
        100,
        "one 000 per person: {:?}",
        codes.iter().filter(|c| *c != "006").collect::<Vec<_>>()
    );
    assert!(codes.iter().all(|c| c == "000" || c == "006"), "{codes:?}");
    assert!(
        eventually_for(30, || nodes.iter().all(|n| crm_of(n).len() == 100)),
        "not every node holds the 100 clients"
    );
    let first = crm_of(&nodes[0]);
    for n in &nodes[1..] {
        assert_eq!(
            crm_of(n),
            first,
            "every node holds the same clients, field for field"
        );
    }
}

#[test]
fn an_appliance_and_a_nats_node_killed_under_load_lose_nothing() {
    let mut nats = NatsCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = three_nodes(&nats, &dir);
    let addrs: Vec<_> = nodes.iter().map(|n| n.addr).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..6usize)
        .map(|t| {
            let (addrs, stop) = (addrs.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..2000usize {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let at = addrs[(t + i) % 3];
                    let phone = format!("05473{t}{i:04}");
                    let req =
                        format!("GET /leads?Phone={phone} HTTP/1.1\r\nConnection: close\r\n\r\n");
                    if let Some(r) = std::panic::catch_unwind(|| raw(at, req.as_bytes()))
                        .ok()
                        .flatten()
                    {
                        if r.status == 200 && r.code() == "000" {
                            acked.push((
                                format!("972{}", &phone[1..]),
                                r.json()["RecordId"].as_u64().unwrap(),
                            ));
                        }
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    // SIGKILL appliance 3 and NATS node 1 under load; restart both.
    let third = nodes.pop().unwrap();
    third.kill9();
    nats.kill(0);
    std::thread::sleep(Duration::from_millis(1500));
    nats.restart(0);
    nats.wait_healthy(0);
    nodes.push(Binary::start(&dir.path().join("node3.toml")));
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<(String, u64)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(acked.len() > 50, "the load made leads: {}", acked.len());
    // Every acknowledged lead on every node, under its id; no phone twice.
    for n in &nodes {
        let ok = eventually_for(60, || {
            let stored: std::collections::HashMap<String, u64> = all_clients(n.addr)
                .into_iter()
                .map(|(id, p)| (p, id))
                .collect();
            acked.iter().all(|(p, id)| stored.get(p) == Some(id))
        });
        let stored = all_clients(n.addr);
        let missing: Vec<_> = {
            let m: std::collections::HashMap<&str, u64> =
                stored.iter().map(|(id, p)| (p.as_str(), *id)).collect();
            acked
                .iter()
                .filter(|(p, id)| m.get(p.as_str()) != Some(id))
                .take(5)
                .collect()
        };
        assert!(
            ok,
            "{}: acknowledged leads missing, e.g. {missing:?}",
            n.addr
        );
        let mut phones: Vec<&str> = stored.iter().map(|(_, p)| p.as_str()).collect();
        let all = phones.len();
        phones.sort();
        phones.dedup();
        assert_eq!(phones.len(), all, "{}: a client made twice", n.addr);
    }
    eprintln!(
        "cluster faults: {} acknowledged, 0 lost on each of 3 nodes",
        acked.len()
    );
}

#[test]
fn loadgen_spreads_posts_over_the_nodes_and_finds_every_lead_on_every_node() {
    let nats = NatsCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let nodes = three_nodes(&nats, &dir);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dataport"));
    cmd.args([
        "loadgen", "--form", "leads", "-c", "6", "-d", "2", "--mix", "80,20,0",
    ])
    .args(["--admin-token", TOKEN, "--converge-secs", "60"]);
    for n in &nodes {
        cmd.args(["--url", &format!("http://{}", n.addr)]);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for n in &nodes {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("verify http://{}:", n.addr)))
            .unwrap_or_else(|| panic!("no verify line for {} in\n{text}", n.addr));
        assert!(line.ends_with(", 0 missing from this node"), "{line}");
    }
    // Each node took a share of the posts.
    for n in &nodes {
        assert!(
            metric(n.addr, "dataport_cluster_records_published_total") > 0,
            "{}",
            n.addr
        );
    }
}

#[test]
fn dial_calls_are_released_once_by_the_lease_holder_and_the_lease_moves_when_it_dies() {
    let nats = NatsCluster::start(3);
    let dialer = peers::HttpReceiver::start(&[]);
    let campaign = "ClusterCampaign00000000000000001";
    let extra = format!(
        "[dialer]\naccount_code = \"ACC\"\nbackend = \"webhook\"\nwebhook_url = \"{}\"\ndispatch_interval_ms = 50\n\
         [[dialer.campaigns]]\nid = 1\nname = \"C\"\ncode = \"{campaign}\"\ntype = \"smart\"\nqueue_max_callers = 100\n{}",
        dialer.url("/originate"),
        Profile::new(21, "dial").text("dialer_campaign", campaign).rows(&[("Phone", "clients", "phone1")])
    );
    let dir = tempfile::tempdir().unwrap();
    let urls = nats.urls_toml();
    let a = node_with(&dir, 1, &urls, 3, "accept", "", &extra);
    let b = node_with(&dir, 2, &urls, 3, "accept", "", &extra);
    wait_health(&a, "\"cluster\":\"connected\"");
    wait_health(&b, "\"cluster\":\"connected\"");
    let holders = || {
        metric(a.addr, "dataport_cluster_dialer_lease")
            + metric(b.addr, "dataport_cluster_dialer_lease")
    };
    assert!(
        eventually_for(20, || holders() == 1),
        "one node holds the dialer's lease"
    );

    // Calls queued at both nodes are each released once, by the holder.
    let mut phones = Vec::new();
    for i in 0..10 {
        let at = if i % 2 == 0 { a.addr } else { b.addr };
        let phone = format!("05223120{i:02}");
        assert_eq!(get(at, &format!("/dial?Phone={phone}")).code(), "000");
        phones.push(format!("972{}", &phone[1..]));
    }
    let released = |p: &str| {
        dialer
            .got()
            .iter()
            .filter(|r| r.body.contains(&format!("\"Phone\":\"{p}\"")))
            .count()
    };
    assert!(
        eventually_for(30, || phones.iter().all(|p| released(p) >= 1)),
        "not every call was released: {:?}",
        dialer.got().len()
    );
    std::thread::sleep(Duration::from_millis(1500));
    for p in &phones {
        assert_eq!(released(p), 1, "{p} released once in the cluster");
    }
    // Both nodes see every call released.
    for n in [&a, &b] {
        assert!(eventually_for(20, || {
            let calls = all_records(n.addr, "calls");
            calls.len() == 10 && calls.iter().all(|c| c["status"] == "released")
        }));
    }
    // CallIDs are unique in the cluster.
    let mut ids: Vec<u64> = all_records(a.addr, "calls")
        .iter()
        .map(|c| c["call_id"].as_u64().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);

    // The holder dies: the other takes the lease and releases what comes next.
    let (holder, survivor) = if metric(a.addr, "dataport_cluster_dialer_lease") == 1 {
        (a, b)
    } else {
        (b, a)
    };
    holder.kill9();
    let late = "0522312099";
    assert_eq!(
        get(survivor.addr, &format!("/dial?Phone={late}")).code(),
        "000"
    );
    assert!(
        eventually_for(30, || released("972522312099") == 1),
        "the survivor never took the lease"
    );
    assert_eq!(metric(survivor.addr, "dataport_cluster_dialer_lease"), 1);
}

#[test]
fn all_of_nats_stopped_under_load_intake_goes_on_and_the_nodes_converge() {
    let mut nats = NatsCluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let urls = nats.urls_toml();
    let nodes = [
        node(&dir, 1, &urls, 1, "accept"),
        node(&dir, 2, &urls, 1, "accept"),
    ];
    for n in &nodes {
        wait_health(n, "\"cluster\":\"connected\"");
    }
    let addrs: Vec<_> = nodes.iter().map(|n| n.addr).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4usize)
        .map(|t| {
            let (addrs, stop) = (addrs.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut other = 0;
                for i in 0..5000usize {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let phone = format!("05474{t}{i:04}");
                    let r = get(addrs[(t + i) % 2], &format!("/leads?Phone={phone}"));
                    match r.code().as_str() {
                        "000" => acked.push((
                            format!("972{}", &phone[1..]),
                            r.json()["RecordId"].as_u64().unwrap(),
                        )),
                        _ => other += 1,
                    }
                }
                (acked, other)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    nats.kill_all();
    for n in &nodes {
        wait_health(n, "unreachable");
    }
    std::thread::sleep(Duration::from_millis(1500));
    nats.restart_all();
    for n in &nodes {
        wait_health(n, "\"cluster\":\"connected\"");
    }
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    let mut other = 0;
    for w in workers {
        let (a, o) = w.join().unwrap();
        acked.extend(a);
        other += o;
    }
    assert_eq!(
        other, 0,
        "accept: every post was answered 000 through the outage"
    );
    assert!(
        metric(addrs[0], "dataport_cluster_unreachable_total")
            + metric(addrs[1], "dataport_cluster_unreachable_total")
            > 0,
        "some posts were taken during the outage"
    );
    for n in &nodes {
        assert!(
            eventually_for(60, || {
                let stored: std::collections::HashMap<String, u64> = all_clients(n.addr)
                    .into_iter()
                    .map(|(id, p)| (p, id))
                    .collect();
                acked.iter().all(|(p, id)| stored.get(p) == Some(id))
            }),
            "{} never held every acknowledged lead",
            n.addr
        );
    }
    eprintln!(
        "NATS outage under load: {} acknowledged, all on both nodes",
        acked.len()
    );
}

#[test]
fn one_record_changed_at_two_nodes_ends_the_same_on_both() {
    let mut nats = NatsCluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let urls = nats.urls_toml();
    let a = node(&dir, 1, &urls, 1, "accept");
    let b = node(&dir, 2, &urls, 1, "accept");
    wait_health(&a, "\"cluster\":\"connected\"");
    wait_health(&b, "\"cluster\":\"connected\"");
    let r = get(a.addr, "/leads?Phone=0522313001");
    let id = r.json()["RecordId"].as_u64().unwrap();
    assert!(eventually_for(20, || admin(
        b.addr,
        &format!("/admin/v1/clients/{id}")
    )
    .status
        == 200));

    // Changed at A, then (later) at B, while the changes cannot travel.
    nats.kill_all();
    wait_health(&a, "unreachable");
    wait_health(&b, "unreachable");
    let patch = |n: &Binary, status: u8| {
        let r = admin_patch(
            n.addr,
            &format!("/admin/v1/clients/{id}"),
            &format!("{{\"handling_status\":{status}}}"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    };
    patch(&a, 2);
    std::thread::sleep(Duration::from_millis(50));
    patch(&b, 3);
    nats.restart_all();
    // Each receives the other's version; both keep the later one.
    let client = |n: &Binary| admin_json(n.addr, &format!("/admin/v1/clients/{id}"));
    assert!(
        eventually_for(30, || client(&a)["handling_status"] == 3
            && client(&a) == client(&b)),
        "A {} / B {}",
        client(&a),
        client(&b)
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(client(&b)["handling_status"], 3, "B kept its later change");
    assert_eq!(client(&a), client(&b));
}

#[test]
fn the_crm_odata_and_dialer_apis_answer_the_same_on_every_node() {
    const KEY: &str = "dpk_cluster_buyer_secret";
    let nats = NatsCluster::start(3);
    let buyer = peers::HttpReceiver::start(&[]);
    let campaign = "ApisCampaign00000000000000000001";
    let extra = format!(
        "[crm]\napi_key = \"k3y\"\n\
         [dialer]\naccount_code = \"ACC\"\nbackend = \"none\"\n\
         [[dialer.campaigns]]\nid = 1\nname = \"C\"\ncode = \"{campaign}\"\ntype = \"smart\"\n\
         [[buyers]]\nid = 1\nname = \"B\"\napi_key_sha256 = \"{hash}\"\n\
         [[rules]]\nid = 1\nbuyer = 1\nmethod = \"post_form\"\nurl = \"{url}\"\nrouting_id_param = \"r\"\nprofiles = [22]\nfields = {{ phone1 = \"tel\" }}\n{profile}",
        hash = dataport::auth::sha256_hex(KEY),
        url = buyer.url("/buy"),
        profile = Profile::new(22, "apis")
            .text("dialer_campaign", campaign)
            .rows(&[("Phone", "clients", "phone1"), ("FirstName", "clients", "first_name")])
    );
    let dir = tempfile::tempdir().unwrap();
    let urls = nats.urls_toml();
    let a = node_with(&dir, 1, &urls, 3, "accept", "", &extra);
    let b = node_with(&dir, 2, &urls, 3, "accept", "", &extra);
    wait_health(&a, "\"cluster\":\"connected\"");
    wait_health(&b, "\"cluster\":\"connected\"");
    for i in 0..6 {
        let at = if i % 2 == 0 { a.addr } else { b.addr };
        assert_eq!(
            get(at, &format!("/apis?Phone=05223140{i:02}&FirstName=P{i}")).code(),
            "000"
        );
    }
    let crm_add = get(a.addr, "/developer/v1/leads?login=dana%40example.com&apikey=k3y&action=add&title=Shared&phone=0522314099");
    assert_eq!(crm_add.status, 200, "{}", crm_add.body);

    let crm = |n: &Binary| {
        get(
            n.addr,
            "/developer/v1/leads?login=dana%40example.com&apikey=k3y&action=list",
        )
        .json()["data"]
            .clone()
    };
    let odata = |n: &Binary| {
        let auth = format!("Bearer {KEY}");
        request(
            n.addr,
            "GET",
            "/odata/Leads",
            &[("Authorization", &auth)],
            b"",
        )
        .json()["value"]
            .clone()
    };
    let pending = |n: &Binary| {
        get(
            n.addr,
            &format!("/ForwardDialer/Dialer/GetCampaignPendingCalls?Campaign={campaign}"),
        )
        .json()["Data"]
            .clone()
    };
    assert!(
        eventually_for(30, || {
            odata(&a).as_array().is_some_and(|v| v.len() == 6)
                && crm(&a) == crm(&b)
                && odata(&a) == odata(&b)
                && pending(&a) == pending(&b)
        }),
        "the APIs differ:\nCRM {} / {}\nOData {} / {}\ndialer {} / {}",
        crm(&a),
        crm(&b),
        odata(&a),
        odata(&b),
        pending(&a),
        pending(&b)
    );
    assert!(
        crm(&b).as_array().is_some_and(|v| !v.is_empty()),
        "B lists A's CRM lead"
    );
    assert!(
        pending(&b).to_string().contains("972522314000"),
        "B's dialer queue holds A's calls: {}",
        pending(&b)
    );
}

/// A phone field intake could not read (kept as posted) and an email are
/// claimed under keys NATS accepts: with `refuse`, such a post is taken
/// (000), not answered 005 as if NATS were away.
#[test]
fn a_person_with_an_unreadable_phone_field_is_claimed_too() {
    let nats = NatsCluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let a = node(&dir, 1, &nats.urls_toml(), 1, "refuse");
    wait_health(&a, "\"cluster\":\"connected\"");
    // As posted, form-encoded: "call.me.", "ext..5", "+", "(0)".
    for (i, odd) in ["call.me.", "ext..5", "%2B", "%280%29"].iter().enumerate() {
        let r = get(
            a.addr,
            &format!("/leads?Phone=05223091{i:02}&Phone2={odd}&Email=odd{i}%40x.example"),
        );
        assert_eq!(r.code(), "000", "Phone2={odd:?}: {}", r.body);
    }
    assert_eq!(metric(a.addr, "dataport_cluster_unreachable_total"), 0);
}
