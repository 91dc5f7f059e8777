//! A mock profile's values reach the served behaviour: every figure here differs from the built-in defaults
//! (openai: latency mean 180 / p99 340 ms, TTFT 250 / 520 ms, inter-token 15 / 40 ms, 40..160 output words, the
//! shipped model catalogue), so a loader that ignored the file would fail each assertion.

mod support;

use support::*;

#[test]
fn an_openai_mock_serves_the_figures_of_its_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("gw-profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: t8-gateway\nprotocol: openai\nseed: 8\nauth:\n  bearer: \"{KEY}\"\nmodels: [t8-model]\n\
             latency: {{mean_ms: 650, p99_ms: 700}}\n\
             stream:\n  ttft: {{mean_ms: 700, p99_ms: 760}}\n  inter_token_ms: {{mean_ms: 100, p99_ms: 110}}\n  tokens_per_chunk: 1\n\
             output_tokens: {{min: 3, max: 3}}\nusage: true\nerrors: {{rate: 0}}\nrate_limit: {{rate: 0}}\nfaults: []\n"
        ),
    )
    .unwrap();
    // Four conversations of two turns (one plain, one streamed, in the seed's order), 0.25 s apart.
    let mut s = Scn::new(vec![Target::openai("gw", "gateway", "unused")], 4.0, 0.875);
    s.turns = 2;
    s.stream_share = 0.5;
    let text = std::fs::read_to_string(s.write(tmp.path()))
        .unwrap()
        .replace("base_url: unused", &format!("mock: {}", profile.display()));
    let sc = tmp.path().join("mocked.yaml");
    std::fs::write(&sc, text).unwrap();
    let (o, dir) = run_scenario(tmp.path(), &sc, "reports");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = rows(&dir);
    assert_eq!(rows.len(), 8);
    let (mut plain, mut streamed) = (0, 0);
    for r in &rows {
        // t8-model is only in this profile's catalogue; the shipped one would answer 404.
        assert_eq!(r.outcome, "ok", "{r:?}");
        // exactly three words of output, from the server's usage
        assert_eq!((r.output_tokens, r.tokens_estimated), (3, false), "{r:?}");
        let lat = r.latency_ms.unwrap();
        if r.stream {
            streamed += 1;
            // TTFT drawn from 700 / 760 ms (the default's p99 is 520 ms)
            let ttft = r.ttft_ms.unwrap();
            assert!((550.0..=1000.0).contains(&ttft), "ttft {ttft}: {r:?}");
            // two gaps drawn from 100 / 110 ms (the default's mean is 15 ms)
            let itl = r.itl_ms.unwrap();
            assert!((80.0..=150.0).contains(&itl), "itl {itl}: {r:?}");
        } else {
            plain += 1;
            // latency drawn from 650 / 700 ms (the default's p99 is 340 ms)
            assert!((500.0..=1000.0).contains(&lat), "latency {lat}: {r:?}");
        }
    }
    assert!(
        plain > 0 && streamed > 0,
        "{plain} plain, {streamed} streamed"
    );
}
