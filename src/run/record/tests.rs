use super::*;

fn write(path: &std::path::Path, rows: &[Record]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    for r in rows {
        w.serialize(r).unwrap();
    }
    w.flush().unwrap();
}

fn collect(path: &std::path::Path) -> Result<Vec<Record>, csv::Error> {
    let mut out = vec![];
    for_each_record(path, |r| {
        out.push(r.clone());
        Ok::<(), csv::Error>(())
    })?;
    Ok(out)
}

#[test]
fn borrowed_rows_fill_every_field() {
    // Every field away from its default, then a row of defaults after it: a field the reused record forgot to
    // overwrite would keep the first row's value.
    let full = Record {
        target: "gw".into(),
        role: "gateway".into(),
        conversation: 7,
        user: 8,
        turn: 2,
        op: OP_CHAT.into(),
        model: "m-1".into(),
        stream: true,
        outcome: Some(Outcome::Error),
        error_kind: "http_503".into(),
        not_sent_reason: "why".into(),
        status: Some(503),
        attempts: 3,
        retries: 2,
        scheduled_ms: 1.5,
        sent_ms: Some(2.5),
        ttfb_ms: Some(3.5),
        ttft_ms: Some(4.5),
        latency_ms: Some(5.5),
        e2e_ms: Some(6.5),
        from_scheduled_ms: Some(7.5),
        retry_wait_ms: 8.5,
        itl_ms: Some(9.5),
        max_gap_ms: Some(10.5),
        chunks: 11,
        input_tokens: 12,
        output_tokens: 13,
        tokens_estimated: true,
        cost_nano_usd: 14,
        canary_phase: Some(1),
        detail: "a, \"quoted\"\nline".into(),
        warmup: true,
        fallback_target: "legacy".into(),
        fallback_outcome: "ok".into(),
        fallback_latency_ms: Some(15.5),
        ack_timeouts: 16,
        answers: Some(17),
        answer_ms: Some(18.5),
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.csv");
    let rows = vec![full, Record::default()];
    write(&p, &rows);
    assert_eq!(collect(&p).unwrap(), rows);
    let owned: Vec<Record> = read_records(&p).unwrap().map(Result::unwrap).collect();
    assert_eq!(owned, rows);
}

#[test]
fn a_bad_field_is_the_same_error_as_the_owned_reader() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.csv");
    write(&p, &[Record::default(), Record::default()]);
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let bad = lines[2].replacen(",0,0,0,", ",0,x,0,", 1);
    lines[2] = &bad;
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let fast = collect(&p).unwrap_err().to_string();
    let owned = read_records(&p)
        .unwrap()
        .find_map(Result::err)
        .unwrap()
        .to_string();
    assert_eq!(fast, owned);
    assert!(fast.contains("line: 3"), "{fast}");
}

#[test]
fn columns_in_another_order_are_read_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.csv");
    let row = Record {
        target: "gw".into(),
        conversation: 5,
        latency_ms: Some(1.25),
        ..Default::default()
    };
    write(&p, std::slice::from_ref(&row));
    // Swap the first two columns (target, role) in the header and the row alike.
    let text = std::fs::read_to_string(&p).unwrap();
    let swapped: String = text
        .lines()
        .map(|l| {
            let (a, rest) = l.split_once(',').unwrap();
            let (b, rest) = rest.split_once(',').unwrap();
            format!("{b},{a},{rest}\n")
        })
        .collect();
    std::fs::write(&p, swapped).unwrap();
    assert_eq!(collect(&p).unwrap(), vec![row]);
}

#[test]
fn a_trailing_partial_row_is_skipped_and_detected() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests.csv");
    let mut w = csv::Writer::from_writer(vec![]);
    for i in 0..3 {
        w.serialize(Record {
            target: "gw".into(),
            conversation: i,
            outcome: Some(Outcome::Ok),
            ..Default::default()
        })
        .unwrap();
    }
    let whole = w.into_inner().unwrap();
    std::fs::write(&p, &whole).unwrap();
    assert_eq!(whole_rows_len(&p).unwrap().1, whole.len() as u64);
    let mut cut = whole.clone();
    cut.extend_from_slice(b"gw,gateway,999,3,1,chat,m1,fal");
    std::fs::write(&p, &cut).unwrap();
    assert_eq!(whole_rows_len(&p).unwrap().1, whole.len() as u64);
    let rows: Vec<Record> = read_records(&p).unwrap().map(Result::unwrap).collect();
    assert_eq!(
        rows.iter().map(|r| r.conversation).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    std::fs::write(&p, b"target,ro").unwrap();
    assert_eq!(whole_rows_len(&p).unwrap().1, 0);
    assert_eq!(read_records(&p).unwrap().count(), 0);
}
