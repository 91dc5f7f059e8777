//! The Kubernetes manifests of `deploy/k8s` (issue 16): an Indexed Job whose pods run `cutover run --shard-count N`,
//! each into its own folder of a shared volume, and a merge Job over those folders. They are read here as YAML and
//! checked against each other, the Dockerfile, the walkthrough in `deploy/README.md` and the bundled scenario, so a
//! change to one that the others do not follow fails here rather than in a cluster. The sharded runs themselves are
//! tested in `tests/shards.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_cutover");

/// Every YAML document under `deploy/k8s`, with the file it came from.
fn manifests() -> Vec<(PathBuf, Value)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&Path::new(ROOT).join("deploy/k8s"), &mut files);
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for d in serde_yaml::Deserializer::from_str(&text) {
            let v = Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if !v.is_null() {
                docs.push((f.clone(), v));
            }
        }
    }
    docs
}

fn of_kind(kind: &str) -> Vec<Value> {
    manifests()
        .into_iter()
        .filter(|(_, v)| v["kind"].as_str() == Some(kind))
        .map(|(_, v)| v)
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|q| q.iter().map(|x| s(x).to_string()).collect())
        .unwrap_or_default()
}

/// The value after `flag` in an argument list.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

/// `$(NAME)` references in a Kubernetes argument (the kubelet expands them from the container's env and leaves an
/// unknown one in place, verbatim: a silent bug worth a test).
fn var_refs(arg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(i) = rest.find("$(") {
        let tail = &rest[i + 2..];
        let j = tail.find(')').expect("closed $(");
        out.push(tail[..j].to_string());
        rest = &tail[j + 1..];
    }
    out
}

/// `/a/b/../c` -> `/a/c` (paths inside a pod are strings here, not files on this machine).
fn normalise(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The pod spec and first container of a Job or a Pod.
fn pod_of(v: &Value) -> (Value, Value) {
    let pod = if v["kind"].as_str() == Some("Pod") {
        v["spec"].clone()
    } else {
        v["spec"]["template"]["spec"].clone()
    };
    let c = pod["containers"][0].clone();
    (pod, c)
}

/// mountPath -> volume, for a container of a pod spec.
fn mounts(pod: &Value, container: &Value) -> BTreeMap<String, Value> {
    let vols: BTreeMap<&str, &Value> = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| (s(&v["name"]), v))
        .collect();
    container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| {
            let vol = vols
                .get(s(&m["name"]))
                .unwrap_or_else(|| panic!("mount of an undeclared volume: {m:?}"));
            (s(&m["mountPath"]).to_string(), (*vol).clone())
        })
        .collect()
}

/// Env var name -> (ConfigMap, key), for the container's configMapKeyRef variables.
fn config_env(container: &Value) -> BTreeMap<String, (String, String)> {
    container["env"]
        .as_sequence()
        .map(|e| e.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let r = &e["valueFrom"]["configMapKeyRef"];
            (!r.is_null()).then(|| {
                (
                    s(&e["name"]).to_string(),
                    (s(&r["name"]).to_string(), s(&r["key"]).to_string()),
                )
            })
        })
        .collect()
}

fn pvc_claim(vol: &Value) -> Option<&str> {
    vol["persistentVolumeClaim"]["claimName"].as_str()
}

/// The one Indexed Job: (the Job, its pod spec, its container, the container's args).
fn shard_job() -> (Value, Value, Value, Vec<String>) {
    let mut indexed: Vec<Value> = of_kind("Job")
        .into_iter()
        .filter(|j| j["spec"]["completionMode"].as_str() == Some("Indexed"))
        .collect();
    assert_eq!(indexed.len(), 1, "one Indexed Job runs the shards");
    let job = indexed.remove(0);
    let (pod, c) = pod_of(&job);
    let args = strings(&c["args"]);
    (job, pod, c, args)
}

/// The Job that runs `cutover merge`, and its whole command line.
fn merge_job() -> (Value, String) {
    of_kind("Job")
        .into_iter()
        .find_map(|j| {
            let (_, c) = pod_of(&j);
            let line = [strings(&c["command"]), strings(&c["args"])]
                .concat()
                .join(" ");
            (line.contains("cutover merge ") || line.starts_with("merge ")).then_some((j, line))
        })
        .expect("a Job that runs `cutover merge`")
}

#[test]
fn shard_job_is_indexed_with_the_same_n_in_completions_parallelism_and_shard_count() {
    let (job, pod, c, args) = shard_job();
    let spec = &job["spec"];
    let n = spec["completions"].as_u64().expect("completions");
    assert!(n >= 2, "a sharded run has at least two shards: {n}");
    assert_eq!(spec["parallelism"].as_u64(), Some(n), "all shards at once");
    assert_eq!(
        spec["backoffLimit"].as_u64(),
        Some(0),
        "a retried shard would send its traffic twice"
    );
    assert_eq!(s(&pod["restartPolicy"]), "Never");
    assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");
    assert_eq!(
        flag(&args, "--shard-count"),
        Some(n.to_string().as_str()),
        "--shard-count equals completions: {args:?}"
    );
    // Every $(VAR) in the args is set: JOB_COMPLETION_INDEX by the Job controller, the rest by the container's env.
    let env = config_env(&c);
    for a in &args {
        for v in var_refs(a) {
            assert!(
                v == "JOB_COMPLETION_INDEX" || env.contains_key(&v),
                "args use $({v}), which nothing sets"
            );
        }
    }
    // The common start instant is one value for every pod: it comes from a ConfigMap, not from each pod's clock.
    let start = flag(&args, "--start-at").expect("--start-at");
    let vars = var_refs(start);
    assert_eq!(vars.len(), 1, "--start-at {start}");
    assert!(env.contains_key(&vars[0]), "{start} from a ConfigMap");
}

#[test]
fn shards_write_per_index_folders_on_a_read_write_many_claim() {
    let (_, pod, c, args) = shard_job();
    let out = flag(&args, "--out").expect("--out");
    assert!(out.contains("$(JOB_COMPLETION_INDEX)"), "{out}");
    let m = mounts(&pod, &c);
    let (_, vol) = m
        .iter()
        .find(|(p, _)| out.starts_with(&format!("{p}/")))
        .unwrap_or_else(|| panic!("--out {out} is on no mounted volume"));
    let claim = pvc_claim(vol).expect("the report volume is a PersistentVolumeClaim");
    let pvc = of_kind("PersistentVolumeClaim")
        .into_iter()
        .find(|p| s(&p["metadata"]["name"]) == claim)
        .unwrap_or_else(|| panic!("no PersistentVolumeClaim {claim} in deploy/k8s"));
    assert!(
        strings(&pvc["spec"]["accessModes"]).contains(&"ReadWriteMany".to_string()),
        "shards on several nodes write the same volume"
    );
}

#[test]
fn the_scenario_and_the_files_it_references_are_where_the_pod_resolves_them() {
    let (_, pod, c, args) = shard_job();
    let mut files = BTreeSet::new();
    let mut keys = BTreeMap::new();
    for (path, vol) in mounts(&pod, &c) {
        for it in vol["configMap"]["items"]
            .as_sequence()
            .map(|q| q.as_slice())
            .unwrap_or_default()
        {
            files.insert(normalise(&format!("{path}/{}", s(&it["path"]))));
            keys.insert(
                s(&it["key"]).to_string(),
                s(&vol["configMap"]["name"]).to_string(),
            );
        }
    }
    let scenario = &args[1];
    assert!(
        files.contains(scenario),
        "{scenario} not mounted: {files:?}"
    );
    // Relative paths in a scenario resolve against its folder (src/scenario.rs): the bundled one's mocks and prices.
    let dir = scenario.rsplit_once('/').unwrap().0;
    let bundled: Value = serde_yaml::from_str(
        &std::fs::read_to_string(format!("{ROOT}/scenarios/coze-migration.yaml")).unwrap(),
    )
    .unwrap();
    let mut referenced: Vec<&str> = bundled["targets"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|t| t["mock"].as_str())
        .collect();
    referenced.push(s(&bundled["prices"]));
    for r in referenced {
        let p = normalise(&format!("{dir}/{r}"));
        assert!(
            files.contains(&p),
            "the scenario's {r} is not at {p}: {files:?}"
        );
    }
    // The walkthrough creates those ConfigMaps with those keys, and the run ConfigMap with the env's keys.
    let readme = std::fs::read_to_string(format!("{ROOT}/deploy/README.md")).unwrap();
    for (key, cm) in &keys {
        assert!(
            readme.contains(&format!("configmap {cm} ")),
            "README creates {cm}"
        );
        assert!(
            readme.contains(&format!("--from-file={key}=")),
            "README sets {cm} key {key}"
        );
    }
    for (cm, key) in config_env(&c).values() {
        assert!(
            readme.contains(&format!("configmap {cm} ")),
            "README creates {cm}"
        );
        assert!(
            readme.contains(&format!("--from-literal={key}=")),
            "README sets {cm} key {key}"
        );
    }
}

#[test]
fn merge_job_reads_every_shard_folder_from_the_same_claim() {
    let (_, spod, sc, args) = shard_job();
    let out = flag(&args, "--out").unwrap();
    let (merge, line) = merge_job();
    assert_ne!(
        merge["spec"]["completionMode"].as_str(),
        Some("Indexed"),
        "one merge process"
    );
    // Shell and Kubernetes spellings of the same path: `"$RUN_ID"` and `$(RUN_ID)`.
    let canon = |t: &str| t.replace('"', "").replace("$(", "$").replace(')', "");
    let glob = canon(out).replace("$JOB_COMPLETION_INDEX", "*");
    assert!(canon(&line).contains(&glob), "merge reads {glob}: {line}");
    assert!(line.contains(" --out "), "{line}");
    let (mpod, mc) = pod_of(&merge);
    let (smounts, mmounts) = (mounts(&spod, &sc), mounts(&mpod, &mc));
    let (mount, vol) = smounts
        .iter()
        .find(|(p, _)| out.starts_with(&format!("{p}/")))
        .unwrap();
    assert_eq!(
        mmounts.get(mount).and_then(pvc_claim),
        pvc_claim(vol),
        "merge mounts the shards' claim at {mount}"
    );
    let senv = config_env(&sc);
    for (var, src) in config_env(&mc) {
        assert_eq!(
            senv.get(&var),
            Some(&src),
            "merge and shards agree on {var}"
        );
    }
}

#[test]
fn every_pod_runs_the_one_image_as_its_non_root_user() {
    let dockerfile = std::fs::read_to_string(format!("{ROOT}/Dockerfile")).unwrap();
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the image sets a USER");
    let uid: u64 = user
        .split(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .expect("numeric USER");
    assert_ne!(uid, 0, "non-root image");
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/cutover\"]"));
    let mut images = BTreeSet::new();
    for v in of_kind("Job").iter().chain(&of_kind("Pod")) {
        let (pod, c) = pod_of(v);
        assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(uid));
        images.insert(s(&c["image"]).to_string());
    }
    assert_eq!(images.len(), 1, "{images:?}");
    // Kustomizations list files that exist and agree on the image.
    let mut set = BTreeSet::new();
    for (file, k) in manifests() {
        if k["kind"].as_str() != Some("Kustomization") {
            continue;
        }
        for r in strings(&k["resources"]) {
            assert!(
                file.parent().unwrap().join(&r).exists(),
                "{}: {r}",
                file.display()
            );
        }
        for i in k["images"]
            .as_sequence()
            .map(|q| q.as_slice())
            .unwrap_or_default()
        {
            set.insert(format!(
                "{} -> {}:{}",
                s(&i["name"]),
                s(&i["newName"]),
                s(&i["newTag"])
            ));
        }
    }
    assert!(
        set.len() <= 1,
        "kustomizations disagree on the image: {set:?}"
    );
}

#[test]
fn every_flag_the_manifests_pass_exists_in_the_cli() {
    for (file, v) in manifests() {
        if v["kind"].as_str() != Some("Job") {
            continue;
        }
        let (_, c) = pod_of(&v);
        let line = [strings(&c["command"]), strings(&c["args"])]
            .concat()
            .join(" ");
        let sub = if line.contains("merge ") {
            "merge"
        } else {
            "run"
        };
        let help = Command::new(BIN).args([sub, "--help"]).output().unwrap();
        assert!(help.status.success(), "cutover {sub} --help");
        let help = String::from_utf8_lossy(&help.stdout);
        for word in line.split_whitespace().filter(|w| w.starts_with("--")) {
            assert!(
                help.contains(word),
                "{}: `cutover {sub}` has no {word}",
                file.display()
            );
        }
    }
}
