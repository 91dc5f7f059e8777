//! Prometheus remote-write (protocol 1.0): the run's series as one `WriteRequest`, protobuf-encoded by hand (four
//! small messages; no code generator needed), snappy block-compressed, POSTed with the protocol's headers.
//!
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in milliseconds
//! ```

use std::time::Duration;

use super::series::Series;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field (wire type 2).
fn bytes_field(field: u32, data: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(field << 3 | 2), out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn label(name: &str, value: &str) -> Vec<u8> {
    let mut m = Vec::new();
    bytes_field(1, name.as_bytes(), &mut m);
    bytes_field(2, value.as_bytes(), &mut m);
    m
}

fn sample(value: f64, timestamp_ms: i64) -> Vec<u8> {
    let mut m = Vec::new();
    varint(1 << 3 | 1, &mut m); // double, wire type 1 (fixed64)
    m.extend_from_slice(&value.to_le_bytes());
    varint(2 << 3, &mut m); // int64, wire type 0 (varint; negative values as 10-byte two's complement)
    varint(timestamp_ms as u64, &mut m);
    m
}

/// The uncompressed `WriteRequest`: every series with one sample at `timestamp_ms`, labels sorted by name with
/// `__name__` first (it sorts first: `_` < lowercase letters).
pub(crate) fn encode(series: &[Series], timestamp_ms: i64) -> Vec<u8> {
    let mut req = Vec::new();
    for s in series {
        let mut ts = Vec::new();
        let mut labels: Vec<(&str, &str)> = vec![("__name__", s.name.as_str())];
        labels.extend(s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        labels.sort();
        for (k, v) in labels {
            bytes_field(1, &label(k, v), &mut ts);
        }
        bytes_field(2, &sample(s.value, timestamp_ms), &mut ts);
        bytes_field(1, &ts, &mut req);
    }
    req
}

/// POST the series to a remote-write receiver (e.g. Prometheus with `--web.enable-remote-write-receiver`, at
/// `http://host:9090/api/v1/write`). Errors are text for the caller to print; they never carry a secret because the
/// URL is the user's and no key is sent.
pub(crate) async fn send(url: &str, series: &[Series], timestamp_ms: i64) -> Result<(), String> {
    let body = snap::raw::Encoder::new()
        .compress_vec(&encode(series, timestamp_ms))
        .map_err(|e| format!("snappy: {e}"))?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("User-Agent", concat!("cutover/", env!("CARGO_PKG_VERSION")))
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("remote write to {url}: {e}"))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    Err(format!(
        "remote write to {url}: HTTP {}: {}",
        status.as_u16(),
        text.chars().take(300).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_one_series_match_the_protobuf_wire_format() {
        let mut v = Vec::new();
        varint(300, &mut v);
        assert_eq!(v, [0xAC, 0x02]);
        let s = Series {
            family: "m".into(),
            kind: "gauge",
            name: "m".into(),
            help: "",
            labels: vec![("t".into(), "g".into())],
            value: 1.5,
        };
        let got = encode(&[s], 1000);
        // timeseries(1) { label(1){name "__name__" value "m"} label(1){name "t" value "g"} sample(2){1.5 @1000} }
        let mut want = vec![0x0A];
        let l1 = [&[0x0A, 8][..], b"__name__", &[0x12, 1], b"m"].concat();
        let l2 = [&[0x0A, 1][..], b"t", &[0x12, 1], b"g"].concat();
        let sm = [&[0x09][..], &1.5f64.to_le_bytes(), &[0x10, 0xE8, 0x07]].concat();
        let ts = [
            &[0x0A, l1.len() as u8][..],
            &l1,
            &[0x0A, l2.len() as u8],
            &l2,
            &[0x12, sm.len() as u8],
            &sm,
        ]
        .concat();
        want.push(ts.len() as u8);
        want.extend_from_slice(&ts);
        assert_eq!(got, want);
    }
}
