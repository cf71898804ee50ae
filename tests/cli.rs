//! The command line's error paths and outputs, run through the real binary.

mod common;

use std::process::{Command, Output, Stdio};

/// The binary with `args`, run in `dir`, with no models directory from the environment.
fn command(args: &[&str], dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stancer"));
    c.args(args).current_dir(dir).env_remove("STANCER_MODELS");
    c
}

fn stancer(args: &[&str], dir: &std::path::Path) -> Output {
    command(args, dir).stdin(Stdio::null()).output().unwrap()
}

/// Runs the binary with `input` on its stdin.
fn stancer_stdin(args: &[&str], dir: &std::path::Path, input: &[u8]) -> Output {
    let mut child =
        command(args, dir).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
    child.wait_with_output().unwrap()
}

/// The JSON file `name` in `dir`.
fn read_json(dir: &std::path::Path, name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn trained_dir() -> tempfile::TempDir {
    trained_on(&common::stance_jsonl())
}

/// A directory with `rows` as train.jsonl and models/stance.safetensors trained on them.
fn trained_on(rows: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "train.jsonl", rows);
    let o = stancer(
        &["train", "--task", "stance", "--data", "train.jsonl", "--out", "models/stance.safetensors", "--folds", "3"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    dir
}

#[test]
fn train_prints_cv_metrics_and_eval_reads_them_back() {
    let dir = trained_dir();
    let o = stancer(&["eval", "--model", "stance", "--data", "train.jsonl"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(m["accuracy"].as_f64().unwrap() > 0.9);
    assert!(m["f_avg"].as_f64().is_some());
    assert!(stderr(&o).contains("gold\\pred"), "confusion matrix on stderr");
}

#[test]
fn malformed_line_stops_training_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = common::stance_jsonl();
    body += "{\"id\": \"x\", \"text\": \"oops\"\n";
    body += &common::stance_jsonl().lines().next().unwrap().replace("r1", "r999");
    common::write(dir.path(), "bad.jsonl", &body);
    // A model written over its data would lose the data.
    let o = stancer(&["train", "--task", "stance", "--data", "bad.jsonl", "--out", "./bad.jsonl"], dir.path());
    assert!(stderr(&o).contains("--out ./bad.jsonl is the input file bad.jsonl"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.path().join("bad.jsonl")).unwrap(), body);
    // A directory is refused before training (saving would fail only after it).
    for out in [".", "./"] {
        let o = stancer(&["train", "--task", "stance", "--data", "bad.jsonl", "--out", out], dir.path());
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(err.contains("is a directory; give the model file to write") && !err.contains("training"), "{err}");
    }
    let o = stancer(&["train", "--task", "stance", "--data", "bad.jsonl", "--out", "m.safetensors"], dir.path());
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("bad.jsonl:73") && err.contains("invalid JSON"), "{err}");
    assert!(!dir.path().join("m.safetensors").exists());

    let o = stancer(
        &[
            "train",
            "--task",
            "stance",
            "--data",
            "bad.jsonl",
            "--out",
            "m.safetensors",
            "--skip-invalid",
            "--folds",
            "0",
            "--summary",
            "s.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("skipped 1 invalid line(s)") && err.contains("bad.jsonl:73"), "{err}");
    // The job that retrains reads what was left out from the summary.
    let summary = read_json(dir.path(), "s.json");
    assert_eq!((&summary["skipped"], &summary["duplicate_ids"]), (&1.into(), &0.into()), "{summary}");
}

#[test]
fn training_mixes_jsonl_csv_and_gzip_files_and_reports_duplicate_ids() {
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let all = common::stance_jsonl();
    common::write(dir.path(), "all.jsonl", &all);
    let rows: Vec<&str> = all.lines().collect();
    common::write(dir.path(), "a.jsonl", &(rows[..24].join("\n") + "\n"));
    // The middle rows as CSV, columns in another order, texts quoted (some hold commas).
    let mut csv = String::from("label,text,id,target\n");
    for line in &rows[24..48] {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = r["text"].as_str().unwrap().replace('"', "\"\"");
        csv += &format!(
            "{},\"{text}\",{},{}\n",
            r["label"].as_str().unwrap(),
            r["id"].as_str().unwrap(),
            r["target"].as_str().unwrap()
        );
    }
    common::write(dir.path(), "b.csv", &csv);
    // The same rows tab-separated (.tsv), and separated by ';' (named by --delimiter).
    let records = csv_records(&csv, b',');
    let join = |sep: &str| records.iter().map(|r| r.join(sep) + "\n").collect::<String>();
    assert!(!csv.contains('\t') && !csv.contains(';'), "the rows must not hold the delimiters");
    common::write(dir.path(), "b.tsv", &join("\t"));
    common::write(dir.path(), "b-semicolon.csv", &join(";"));
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all((rows[48..].join("\n") + "\n").as_bytes()).unwrap();
    std::fs::write(dir.path().join("c.jsonl.gz"), gz.finish().unwrap()).unwrap();

    let train = |data: &[&str], out: &str, solver: &str| {
        let mut args = vec!["train", "--task", "stance", "--out", out, "--folds", "3", "--solver", solver, "--data"];
        args.extend(data);
        stancer(&args, dir.path())
    };
    let eval = |model: &str, data: &str| {
        let o = stancer(&["eval", "--model", model, "--data", data], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let o = train(&["all.jsonl"], "one.safetensors", "lbfgs");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = train(&["a.jsonl", "b.csv", "c.jsonl.gz", "--threads", "1"], "mixed.safetensors", "lbfgs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("on 72 rows from 3 file(s)"), "{}", stderr(&o));
    let o = train(&["a.jsonl", "b.tsv", "c.jsonl.gz"], "tsv.safetensors", "lbfgs");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = train(&["a.jsonl", "b-semicolon.csv", "c.jsonl.gz", "--delimiter", ";"], "semi.safetensors", "lbfgs");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = train(&["b-semicolon.csv"], "x.safetensors", "lbfgs");
    assert!(stderr(&o).contains("are the fields separated by ';'? give --delimiter"), "{}", stderr(&o));
    // The same rows in the same order make the same model, whatever files they came in
    // (and however many threads trained it).
    assert_eq!(eval("one.safetensors", "all.jsonl"), eval("mixed.safetensors", "all.jsonl"));
    assert_eq!(eval("tsv.safetensors", "all.jsonl"), eval("mixed.safetensors", "all.jsonl"));
    assert_eq!(eval("semi.safetensors", "all.jsonl"), eval("mixed.safetensors", "all.jsonl"));
    assert!(eval("mixed.safetensors", "b.csv")["accuracy"].as_f64().unwrap() > 0.9);
    // The data digest is of the rows as read, so compressing a file does not change it.
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(all.as_bytes()).unwrap();
    std::fs::write(dir.path().join("all.jsonl.gz"), gz.finish().unwrap()).unwrap();
    let o = train(&["all.jsonl.gz"], "gz.safetensors", "lbfgs");
    assert!(o.status.success(), "{}", stderr(&o));
    let digest = |m: &str| stancer::model::load(&dir.path().join(m)).unwrap().meta().training.data_digest.clone();
    assert_eq!(digest("gz.safetensors"), digest("one.safetensors"));

    let o = train(&["a.jsonl", "b.csv", "c.jsonl.gz"], "sgd.safetensors", "sgd");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("streaming 3 file(s)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--folds is for the lbfgs solver"), "{}", stderr(&o));
    let o = stancer(
        &[
            "train",
            "--task",
            "stance",
            "--out",
            "s.safetensors",
            "--solver",
            "sgd",
            "--data",
            "a.jsonl",
            "--summary",
            "s.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = read_json(dir.path(), "s.json");
    assert_eq!((&summary["solver"], &summary["out"]), (&"sgd".into(), &"s.safetensors".into()), "{summary}");
    assert!(summary["metrics"]["accuracy"].as_f64().is_some() && summary["promoted"].is_null(), "{summary}");

    // An id seen in two files is reported; a CSV without a label column is refused.
    common::write(dir.path(), "dup.csv", &format!("id,text,label\nr1,{},favor\n", "I love wind power"));
    for solver in ["lbfgs", "sgd"] {
        let o = train(&["a.jsonl", "dup.csv"], "dup.safetensors", solver);
        assert!(o.status.success(), "{}", stderr(&o));
        let dup = "1 row(s) have the id of an earlier row, e.g. r1 (a.jsonl:1 and dup.csv:2)";
        assert!(stderr(&o).contains(dup), "{solver}: {}", stderr(&o));
    }
    common::write(dir.path(), "nolabel.csv", "id,text,stance\nr1,I love wind power,favor\n");
    let o = train(&["a.jsonl", "nolabel.csv"], "x.safetensors", "lbfgs");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nolabel.csv:1: no column \"label\" in the header"), "{}", stderr(&o));
    // A failed training still writes its summary, saying why.
    let o = train(&["a.jsonl", "nolabel.csv", "--summary", "failed.json"], "x.safetensors", "lbfgs");
    // The flags do not fit the input: a usage error.
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let summary = read_json(dir.path(), "failed.json");
    assert!(summary["error"].as_str().unwrap().contains("no column \"label\""), "{summary}");
    assert_eq!((&summary["solver"], &summary["metrics"]), (&"lbfgs".into(), &serde_json::Value::Null), "{summary}");
    assert!(!dir.path().join("x.safetensors").exists());
    // Other column names are given by flags; a named column must exist.
    let body = "tid,tweet,stance\nz1,I love wind power,favor\n,We hate tax cuts,against\n,Tax cuts again,none\n";
    common::write(dir.path(), "renamed.csv", body);
    let renamed = |id: &str| {
        let flags = ["--text-column", "tweet", "--label-column", "stance", "--id-column", id];
        let mut args = vec!["train", "--task", "stance", "--out", "r.safetensors", "--folds", "0"];
        args.extend(flags);
        args.extend(["--data", "a.jsonl", "renamed.csv"]);
        stancer(&args, dir.path())
    };
    let o = renamed("tid");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("on 27 rows from 2 file(s)"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("duplicate"), "empty id cells are no ids: {}", stderr(&o));
    let o = renamed("nope");
    assert!(stderr(&o).contains("renamed.csv:1: no column \"nope\" in the header"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // A file without rows among others is refused, whatever its format and solver.
    common::write(dir.path(), "empty.jsonl", "");
    common::write(dir.path(), "blank.jsonl", "\n  \n");
    common::write(dir.path(), "header.csv", "id,text,label\n");
    for empty in ["empty.jsonl", "blank.jsonl", "header.csv"] {
        for solver in ["lbfgs", "sgd"] {
            let o = train(&["a.jsonl", empty], "x.safetensors", solver);
            assert_eq!(o.status.code(), Some(1), "{empty} {solver}: {}", stderr(&o));
            assert!(stderr(&o).contains(&format!("{empty}: no rows")), "{empty} {solver}: {}", stderr(&o));
        }
    }
}

#[test]
fn unknown_label_empty_text_and_missing_field_say_where() {
    let dir = trained_dir();
    common::write(
        dir.path(),
        "e1.jsonl",
        "{\"id\": 1, \"text\": \"a\", \"target\": \"Tax Cuts\", \"label\": \"maybe\"}\n",
    );
    let o = stancer(&["eval", "--model", "stance", "--data", "e1.jsonl"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("e1.jsonl:1: unknown label \"maybe\" for task stance"), "{}", stderr(&o));

    common::write(
        dir.path(),
        "e2.jsonl",
        "{\"id\": 1, \"text\": \"a\", \"label\": \"favor\"}\n{\"id\": 2, \"text\": \"\", \"label\": \"favor\"}\n",
    );
    let o = stancer(&["eval", "--model", "stance", "--data", "e2.jsonl"], dir.path());
    assert!(stderr(&o).contains("e2.jsonl:2: field \"text\" is empty"), "{}", stderr(&o));

    common::write(dir.path(), "e3.jsonl", "{\"id\": 1, \"label\": \"favor\"}\n");
    let o = stancer(&["eval", "--model", "stance", "--data", "e3.jsonl"], dir.path());
    assert!(stderr(&o).contains("e3.jsonl:1: missing field \"text\""), "{}", stderr(&o));

    let o = stancer(&["eval", "--model", "stance", "--data", "nope.jsonl"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nope.jsonl"), "{}", stderr(&o));

    let o = stancer(&["eval", "--model", "nosuch", "--data", "e1.jsonl"], dir.path());
    assert!(stderr(&o).contains("unknown model \"nosuch\""), "{}", stderr(&o));
}

#[test]
fn data_that_numbers_its_labels_trains_and_evaluates_through_a_label_map() {
    let dir = tempfile::tempdir().unwrap();
    let named = common::sentiment_jsonl();
    common::write(dir.path(), "named.jsonl", &named);
    // The same rows with numbered labels, as JSON numbers, then half of them as CSV.
    let numbered: Vec<String> = named
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let n = match v["label"].as_str().unwrap() {
                "positive" => 1,
                "neutral" => 0,
                _ => -1,
            };
            v["label"] = n.into();
            v.to_string()
        })
        .collect();
    common::write(dir.path(), "num.jsonl", &(numbered[..15].join("\n") + "\n"));
    let mut csv = String::from("id,text,target,label\n");
    for l in &numbered[15..] {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        csv +=
            &format!("{},{},{},{}\n", v["id"], v["text"].as_str().unwrap(), v["target"].as_str().unwrap(), v["label"]);
    }
    common::write(dir.path(), "num.csv", &csv);
    let train = |extra: &[&str], out: &str| {
        let mut args = vec!["train", "--task", "sentiment", "--data", "num.jsonl", "--data", "num.csv"];
        args.extend_from_slice(&["--folds", "0", "--out", out]);
        args.extend_from_slice(extra);
        stancer(&args, dir.path())
    };

    // Without a map, the first numbered label is refused where it stands.
    let o = train(&[], "m.safetensors");
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("num.jsonl:1: unknown label \"1\" for task sentiment") && err.contains("label map"), "{err}");
    // A map to a label the task does not have, or one that is not FROM=TO, is refused.
    let o = train(&["--label-map", "1=great"], "m.safetensors");
    assert!(
        stderr(&o).contains("\"1\" is mapped to \"great\", which is not a label of task sentiment"),
        "{}",
        stderr(&o)
    );
    let o = train(&["--label-map", "1"], "m.safetensors");
    assert!(stderr(&o).contains("\"1\" is not FROM=TO"), "{}", stderr(&o));
    assert!(!dir.path().join("m.safetensors").exists());

    // Mapped, both files train the model the named labels train, and eval reads them too.
    let o = train(&["--label-map", "-1=negative, 0=neutral,1=positive"], "m.safetensors");
    assert!(o.status.success(), "{}", stderr(&o));
    // The same files read through another map are other data (a --compare says so).
    let o = train(&["--label-map", "1=negative, 0=neutral,-1=positive"], "swapped.safetensors");
    assert!(o.status.success(), "{}", stderr(&o));
    let digest = |m: &str| stancer::model::load(&dir.path().join(m)).unwrap().meta().training.data_digest.clone();
    assert_ne!(digest("m.safetensors"), digest("swapped.safetensors"));
    let o = stancer(
        &["train", "--task", "sentiment", "--data", "named.jsonl", "--folds", "0", "--out", "named.safetensors"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Rows without their person are scored as whole texts, which eval says.
    let untargeted: String = named
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().retain(|k, _| !k.starts_with("target"));
            v.to_string() + "\n"
        })
        .collect();
    common::write(dir.path(), "untargeted.jsonl", &untargeted);
    for (data, warned) in [("named.jsonl", false), ("untargeted.jsonl", true)] {
        let o = stancer(&["eval", "--model", "named.safetensors", "--data", data], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stderr(&o).contains("warning: no row names a target"), warned, "{data}: {}", stderr(&o));
    }
    for m in ["m", "named"] {
        let o = stancer(
            &[
                "score",
                "--model",
                &format!("{m}.safetensors"),
                "--input",
                "named.jsonl",
                "--output",
                &format!("{m}.out"),
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let scored = |m: &str| std::fs::read_to_string(dir.path().join(format!("{m}.out"))).unwrap();
    assert_eq!(scored("m"), scored("named"));
    let o = stancer(
        &["eval", "--model", "m.safetensors", "--data", "num.csv", "--label-map=-1=negative,0=neutral,1=positive"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // A label that is neither a string nor a number says so.
    common::write(dir.path(), "odd.jsonl", "{\"id\": 1, \"text\": \"a\", \"label\": [1]}\n");
    let o = stancer(&["eval", "--model", "m.safetensors", "--data", "odd.jsonl"], dir.path());
    assert!(
        stderr(&o).contains("odd.jsonl:1: invalid field: a label must be a string or a number, not an array"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn score_keeps_order_writes_error_rows_and_reads_stdin() {
    let dir = trained_dir();
    // A byte order mark before the first row, as some exporters write.
    let input = concat!(
        "\u{feff}{\"id\": \"a\", \"text\": \"I love wind power so much\", \"target\": \"Wind Power\", \"extra\": 1}\n",
        "{\"id\": \"b\", \"text\": \"\"}\n",
        "not json\n",
        "{\"id\": \"d\", \"text\": \"We hate tax cuts\", \"target\": \"Tax Cuts\"}\n",
        "{\"id\": \"e\", \"text\": \"We hate tax cuts\", \"target\": \"Unseen Target\"}\n",
        "[\"f\", \"We hate tax cuts\"]\n",
        "{\"id\": \"g\", \"text\": 5}\n",
        // Blank lines are no rows, but are counted.
        "\n \t\n",
    );
    common::write(dir.path(), "in.jsonl", input);
    let o = stancer(
        &["score", "--model", "stance", "--input", "in.jsonl", "--output", "out.jsonl", "--summary", "s.json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("processed 3 of 7 rows, 4 error row(s)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 blank line(s) skipped"), "{}", stderr(&o));
    let summary = read_json(dir.path(), "s.json");
    assert_eq!(summary["blank_lines"], 2, "{summary}");
    assert_eq!(
        (&summary["input"], &summary["output"], &summary["rows"], &summary["ok"], &summary["errors"]),
        (&"in.jsonl".into(), &"out.jsonl".into(), &7.into(), &3.into(), &4.into()),
        "{summary}"
    );
    assert_eq!(summary["first_errors"][0], "in.jsonl:2: field \"text\" is empty", "{summary}");
    assert!(summary["seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(summary["stopped"], serde_json::Value::Null, "{summary}");
    // It names the model that scored the rows, as the model file does.
    let model = &summary["models"][0];
    assert_eq!(
        (&model["path"], &model["name"], &model["task"]),
        (&"models/stance.safetensors".into(), &"stance".into(), &"stance".into())
    );
    let meta = stancer::model::load(&dir.path().join("models/stance.safetensors")).unwrap().meta().clone();
    assert_eq!(model["created_at"], meta.created_at.as_str(), "{summary}");
    let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    // The row with a field of the wrong type keeps its own id.
    assert_eq!(ids, ["a", "b", "3", "d", "e", "6", "g"]);
    assert_eq!(rows[0]["label"], "favor");
    assert_eq!(rows[0]["head"], "Wind Power");
    let p = &rows[0]["probabilities"];
    let total: f64 = ["favor", "against", "none"].iter().map(|l| p[l].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-3);
    assert!(rows[1]["error"].as_str().unwrap().contains("empty"));
    assert!(rows[2]["error"].as_str().unwrap().contains("invalid JSON"));
    assert_eq!(rows[3]["label"], "against");
    assert_eq!(rows[4]["head"], "(pooled)");
    assert!(rows[5]["error"].as_str().unwrap().contains("must be a JSON object"));
    // Error rows say the line they stand for: an id that is a line number may be a row's own.
    assert_eq!((&rows[1]["line"], &rows[2]["line"], &rows[5]["line"]), (&2.into(), &3.into(), &6.into()));
    assert!(rows[0].get("line").is_none());

    // Stopped by bad rows: exit status 3, which a job tells from a failure to run (1).
    let o = stancer(
        &["score", "--model", "stance", "--input", "in.jsonl", "--fail-fast", "--summary", "f.json"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("in.jsonl:2: field \"text\" is empty"), "{}", stderr(&o));
    // A write that fails names the output it failed on.
    #[cfg(target_os = "linux")]
    {
        let o = stancer(&["score", "--model", "stance", "--input", "in.jsonl", "--output", "/dev/full"], dir.path());
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("/dev/full: No space left on device"), "{}", stderr(&o));
    }
    // The reader read ahead past the blank lines at the end, which the run never reached.
    assert!(!stderr(&o).contains("blank line"), "{}", stderr(&o));
    assert_eq!(read_json(dir.path(), "f.json")["blank_lines"], serde_json::Value::Null);
    // A run that fails before its first row still writes its summary, over an earlier
    // run's, which a job would otherwise read as this run's.
    std::fs::write(dir.path().join("m.json"), "{\"rows\": 6, \"stopped\": null}").unwrap();
    for (args, why) in [
        (["--model", "stance", "--input", "missing.jsonl"], "opening missing.jsonl"),
        (["--model", "missing", "--input", "in.jsonl"], "missing"),
    ] {
        let o = stancer(&[&["score"], &args[..], &["--summary", "m.json"]].concat(), dir.path());
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let summary = read_json(dir.path(), "m.json");
        assert!(summary["stopped"].as_str().unwrap().contains(why), "{summary}");
        assert_eq!((&summary["rows"], &summary["input"]), (&0.into(), &args[3].into()), "{summary}");
    }
    // A summary that cannot be written fails the run before it scores anything.
    let o = stancer(
        &["score", "--model", "stance", "--input", "in.jsonl", "--output", "o.jsonl", "--summary", "no/s.json"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("creating no/s.json"), "{}", stderr(&o));
    assert!(!dir.path().join("o.jsonl").exists());

    // --max-errors 2: the third bad row (line 6) stops the run; the rows before it are
    // written and counted in the summary, which says why the run stopped, and --resume
    // without the limit finishes the file as one whole run writes it.
    let limited = [
        "score",
        "--model",
        "stance",
        "--input",
        "in.jsonl",
        "--output",
        "part.jsonl",
        "--max-errors",
        "2",
        "--summary",
        "stop.json",
    ];
    let o = stancer(&limited, dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let stop = r#"in.jsonl:6: a row must be a JSON object {"id", "text", ...}, not an array (stopped after 2 rows that could not be processed)"#;
    assert!(stderr(&o).contains(stop) && stderr(&o).contains("processed 3 of 5 rows"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.path().join("part.jsonl")).unwrap().lines().count(), 5);
    let summary = read_json(dir.path(), "stop.json");
    assert_eq!((&summary["rows"], &summary["ok"], &summary["errors"]), (&5.into(), &3.into(), &2.into()), "{summary}");
    assert_eq!(summary["stopped"], stop, "{summary}");
    let o = stancer(
        &["score", "--model", "stance", "--input", "in.jsonl", "--output", "part.jsonl", "--resume"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.path().join("part.jsonl")).unwrap(), out);
    let o =
        stancer(&["score", "--model", "stance", "--input", "in.jsonl", "--fail-fast", "--max-errors", "3"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("cannot be used with"), "{}", stderr(&o));

    // An output that is the input (by another path, or a link) is refused before it is
    // truncated; so is a summary written over it.
    std::os::unix::fs::symlink(dir.path().join("in.jsonl"), dir.path().join("link.jsonl")).unwrap();
    for (flag, out) in [("--output", "./in.jsonl"), ("--output", "link.jsonl"), ("--summary", "in.jsonl")] {
        let o = stancer(&["score", "--model", "stance", "--input", "in.jsonl", flag, out], dir.path());
        assert!(!o.status.success());
        assert!(stderr(&o).contains(&format!("{flag} {out} is the input file in.jsonl")), "{}", stderr(&o));
        assert_eq!(std::fs::read_to_string(dir.path().join("in.jsonl")).unwrap(), input);
    }

    // One worker thread writes the same rows; zero threads is refused before any work.
    let o = stancer(
        &["score", "--model", "stance", "--input", "in.jsonl", "--output", "one.jsonl", "--threads", "1"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.path().join("one.jsonl")).unwrap(), out);
    let o = stancer(&["score", "--model", "stance", "--input", "in.jsonl", "--threads", "0"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("--threads"), "{}", stderr(&o));

    let o = stancer_stdin(
        &["score", "--model", "models/stance.safetensors", "--input", "-", "--output", "-"],
        dir.path(),
        input.as_bytes(),
    );
    assert!(o.status.success());
    assert_eq!(String::from_utf8(o.stdout).unwrap(), out);
}

#[test]
fn a_closed_output_pipe_stops_quietly_and_a_full_disk_says_so_once() {
    use std::io::{BufRead, BufReader};
    let dir = trained_dir();
    let rows = "{\"text\": \"We must act on climate change now\"}\n".repeat(20_000);
    common::write(dir.path(), "in.jsonl", &rows);
    // `stancer score | head -1`: the rows fill the pipe long before they are all written.
    let mut child = command(&["score", "--model", "stance", "--input", "in.jsonl"], dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("\"label\""), "{first}");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(141), "{}", stderr(&o));
    assert!(!stderr(&o).contains("error:"), "{}", stderr(&o));

    #[cfg(target_os = "linux")]
    {
        let o = stancer(&["score", "--model", "stance", "--input", "in.jsonl", "--output", "/dev/full"], dir.path());
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(stderr(&o).matches("No space left on device").count(), 1, "{}", stderr(&o));
        // Also when the rows are compressed on the gzip thread.
        std::os::unix::fs::symlink("/dev/full", dir.path().join("full.jsonl.gz")).unwrap();
        let o =
            stancer(&["score", "--model", "stance", "--input", "in.jsonl", "--output", "full.jsonl.gz"], dir.path());
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(stderr(&o).matches("No space left on device").count(), 1, "{}", stderr(&o));
    }
}

#[test]
fn help_explains_commands() {
    let dir = tempfile::tempdir().unwrap();
    let o = stancer(&["--help"], dir.path());
    let s = String::from_utf8_lossy(&o.stdout);
    for cmd in ["train", "eval", "score"] {
        assert!(s.contains(cmd), "{s}");
    }
    let o = stancer(&["train", "--help"], dir.path());
    assert!(String::from_utf8_lossy(&o.stdout).contains("--lexicons"));
}

#[test]
fn csv_and_gzip_inputs_and_gzip_output() {
    let dir = trained_dir();
    common::write(
        dir.path(),
        "in.csv",
        "key,quote,topic\nk1,\"I love wind power, truly\",Wind Power\nk2,We hate tax cuts,Tax Cuts\nk3,,Tax Cuts\n",
    );
    let o = stancer(
        &[
            "score",
            "--model",
            "stance",
            "--input",
            "in.csv",
            "--text-column",
            "quote",
            "--id-column",
            "key",
            "--target-column",
            "topic",
            "--output",
            "out.jsonl",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!((rows[0]["id"].as_str(), rows[0]["label"].as_str()), (Some("k1"), Some("favor")));
    assert_eq!(rows[1]["label"], "against");
    assert!(rows[2]["error"].as_str().unwrap().contains("empty"));

    let o = stancer(&["score", "--model", "stance", "--input", "in.csv", "--text-column", "nope"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no column \"nope\""), "{}", stderr(&o));

    // Gzip in, gzip out: the same rows as plain.
    use flate2::{Compression, read::MultiGzDecoder, write::GzEncoder};
    use std::io::{Read, Write};
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(std::fs::read(dir.path().join("in.csv")).unwrap().as_slice()).unwrap();
    std::fs::write(dir.path().join("in.csv.gz"), enc.finish().unwrap()).unwrap();
    let o = stancer(
        &[
            "score",
            "--model",
            "stance",
            "--input",
            "in.csv.gz",
            "--text-column",
            "quote",
            "--id-column",
            "key",
            "--target-column",
            "topic",
            "--output",
            "out.jsonl.gz",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut s = String::new();
    MultiGzDecoder::new(std::fs::File::open(dir.path().join("out.jsonl.gz")).unwrap()).read_to_string(&mut s).unwrap();
    assert_eq!(s, out);

    // Gzip is known by its bytes: piped in, it reads as the file does.
    let gz = std::fs::read(dir.path().join("in.csv.gz")).unwrap();
    let args =
        ["score", "--model", "stance", "--text-column", "quote", "--id-column", "key", "--target-column", "topic"];
    let o = stancer_stdin(&args, dir.path(), &gz);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), out);
}

/// The records of CSV `text`, read by csv-core (the reader behind the `csv` crate).
fn csv_records(text: &str, delimiter: u8) -> Vec<Vec<String>> {
    let mut reader = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let (mut input, mut records) = (text.as_bytes(), Vec::new());
    let (mut out, mut ends) = (vec![0u8; text.len() + 1], vec![0usize; 64]);
    loop {
        let (result, read, _, n) = reader.read_record(input, &mut out, &mut ends);
        input = &input[read..];
        match result {
            csv_core::ReadRecordResult::Record => {
                let mut start = 0;
                let fields = ends[..n].iter().map(|&end| {
                    let f = String::from_utf8(out[start..end].to_vec()).unwrap();
                    start = end;
                    f
                });
                records.push(fields.collect());
            }
            csv_core::ReadRecordResult::End => return records,
            other => assert!(matches!(other, csv_core::ReadRecordResult::InputEmpty), "{other:?}"),
        }
    }
}

#[test]
fn score_writes_csv_rows_that_read_as_its_jsonl_rows_and_resume() {
    let dir = trained_dir();
    // Ids that CSV must quote (a comma, a quote, a line break), and a bad row.
    let input = "id,text,target\n\
                 plain,I love wind power,Wind Power\n\
                 \"a,comma\",We hate tax cuts,Tax Cuts\n\
                 \"say \"\"hi\"\"\",,Tax Cuts\n\
                 \"two\nlines\",wind power is fine,Unseen Target\n\
                 last,tax cuts now,Tax Cuts\n";
    common::write(dir.path(), "in.csv", input);
    let score = |out: &str, extra: &[&str]| {
        let mut args = vec!["score", "--model", "stance", "--input", "in.csv", "--output", out];
        args.extend_from_slice(extra);
        stancer(&args, dir.path())
    };
    let o = score("out.jsonl", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let jsonl = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let o = score("out.csv", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let records = csv_records(&csv, b',');
    assert_eq!(records[0], ["id", "label", "p_favor", "p_against", "p_none", "head", "error"]);
    assert_eq!(records.len(), 6, "{csv}");
    for (row, rec) in jsonl.lines().zip(&records[1..]) {
        let row: serde_json::Value = serde_json::from_str(row).unwrap();
        let field = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
        let probs = ["favor", "against", "none"].map(|l| row["probabilities"].get(l).map_or(String::new(), field));
        let want = [field(&row["id"]), row["label"].as_str().unwrap_or_default().to_string()]
            .into_iter()
            .chain(probs)
            .chain([row["head"].as_str().unwrap_or_default().into(), row["error"].as_str().unwrap_or_default().into()]);
        assert_eq!(rec, &want.collect::<Vec<String>>(), "{row}");
    }
    assert_eq!(records[2][0], "a,comma");
    assert_eq!(records[3][0], "say \"hi\"");
    assert!(records[3][6].contains("empty"), "{:?}", records[3]);
    assert_eq!(records[4][0], "two\nlines");

    // --output-format says CSV where no file name can (stdout).
    let o = score("-", &["--output-format", "csv"]);
    assert_eq!(String::from_utf8(o.stdout).unwrap(), csv);
    // Tab-separated in (.tsv, or --delimiter on stdin) and out (.tsv): the same records.
    let tsv_in: String = csv_records(input, b',').iter().map(|r| r.join("\t") + "\n").collect();
    common::write(dir.path(), "in.tsv", &tsv_in.replace("two\nlines", "\"two\nlines\""));
    let o = stancer(&["score", "--model", "stance", "--input", "in.tsv", "--output", "out.tsv"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let tsv = std::fs::read_to_string(dir.path().join("out.tsv")).unwrap();
    assert!(tsv.starts_with("id\tlabel\tp_favor\t"), "{tsv}");
    assert_eq!(csv_records(&tsv, b'\t'), records);
    let o = stancer_stdin(
        &["score", "--model", "stance", "--delimiter", "tab", "--output-format", "tsv"],
        dir.path(),
        &std::fs::read(dir.path().join("in.tsv")).unwrap(),
    );
    assert_eq!(String::from_utf8(o.stdout).unwrap(), tsv);

    // --explain adds each row's top features, and changes nothing else; in CSV they are a
    // column holding the same JSON array.
    let o = score("explained.jsonl", &["--explain", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let explained = std::fs::read_to_string(dir.path().join("explained.jsonl")).unwrap();
    assert_eq!(explained.lines().count(), 5);
    for (row, plain) in explained.lines().zip(jsonl.lines()) {
        let mut row: serde_json::Value = serde_json::from_str(row).unwrap();
        if row["error"].is_null() {
            let top = row.as_object_mut().unwrap().remove("top_features").unwrap();
            let top = top.as_array().unwrap();
            assert_eq!(top.len(), 2, "{top:?}");
            assert!(top.iter().all(|f| f["feature"].is_string() && f["weight"].as_f64().unwrap() != 0.0), "{top:?}");
            assert!(top[0]["weight"].as_f64().unwrap().abs() >= top[1]["weight"].as_f64().unwrap().abs());
        }
        assert_eq!(row, serde_json::from_str::<serde_json::Value>(plain).unwrap());
    }
    let o = score("explained.csv", &["--explain", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let records = csv_records(&std::fs::read_to_string(dir.path().join("explained.csv")).unwrap(), b',');
    assert_eq!(records[0][6..], ["top_features", "error"]);
    let first: serde_json::Value = serde_json::from_str(explained.lines().next().unwrap()).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&records[1][6]).unwrap(), first["top_features"]);
    let o = score("-", &["--explain", "51"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    let o = stancer(&["score", "--model", "stance", "--input", "in.csv", "--delimiter", "\""], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("a quote or line break cannot separate fields"), "{}", stderr(&o));

    // Resumed from a cut anywhere (in the header, inside the quoted line break, at a row's
    // end), plain or gzip, the file equals the whole run's.
    let gz = |text: &str| {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap()
    };
    let gunzip = |path: &std::path::Path| {
        let mut s = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()),
            &mut s,
        )
        .unwrap();
        s
    };
    let in_break = csv.find("two\n").unwrap() + 4;
    let row_end = csv.find("\nlast").unwrap() + 1;
    for cut in [0, 5, csv.find('\n').unwrap() + 1, in_break, row_end, csv.len()] {
        std::fs::write(dir.path().join("part.csv"), &csv[..cut]).unwrap();
        let o = score("part.csv", &["--resume"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(std::fs::read_to_string(dir.path().join("part.csv")).unwrap(), csv, "cut at {cut}");
        std::fs::write(dir.path().join("part.csv.gz"), gz(&csv[..cut])).unwrap();
        let o = score("part.csv.gz", &["--resume"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(gunzip(&dir.path().join("part.csv.gz")), csv, "cut at {cut}, gzip");
    }

    // Nested rows are not written as CSV.
    for (out, extra, names) in
        [("x.csv", &[][..], "--output x.csv"), ("x.out", &["--output-format", "csv"][..], "--output-format:")]
    {
        let mut args = vec!["extract", "--input", "in.csv", "--output", out];
        args.extend_from_slice(extra);
        let o = stancer(&args, dir.path());
        // A usage mistake (exit status 2), not a failed run.
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("only score writes CSV"), "{}", stderr(&o));
        assert!(stderr(&o).contains(names), "the message names the flag at fault: {}", stderr(&o));
        assert!(!dir.path().join(out).exists());
    }
}

#[test]
fn an_open_csv_quote_costs_one_row_and_a_cut_input_stops_the_run() {
    let dir = trained_dir();
    let score = |input: &str, extra: &[&str]| {
        let mut args = vec!["score", "--model", "stance", "--input", input, "--output", "out.jsonl"];
        args.extend_from_slice(extra);
        let o = stancer(&args, dir.path());
        let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap_or_default();
        let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        (o, rows)
    };
    // The quote on line 3 is never closed: that line is an error row, the rows after it are
    // scored as rows (a CSV reader would read them all into line 3's text).
    common::write(
        dir.path(),
        "in.csv",
        "id,text,target\na,I love wind power,Wind Power\nb,\"we hate tax cuts,Tax Cuts\nc,We hate tax cuts,Tax Cuts\nd,wind power is great,Wind Power\n",
    );
    // Columns named `id` and `target` are read without flags, as the JSONL fields are.
    let (_, named) = score("in.csv", &["--id-column", "id", "--target-column", "target"]);
    let (o, rows) = score("in.csv", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rows, named);
    assert_eq!(rows[0]["head"], "Wind Power", "{rows:?}");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows[1]["id"], "3");
    assert!(rows[1]["error"].as_str().unwrap().contains("never closed"), "{rows:?}");
    let ids: Vec<&str> = [0, 2, 3].iter().map(|&i| rows[i]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "c", "d"]);
    assert!(stderr(&o).contains("in.csv:3: a quote opened on this line is never closed"), "{}", stderr(&o));

    // A gzip file cut off mid-stream: the rows before the cut are written, then the run
    // fails naming the file and line (it used to write an error row per read attempt,
    // without end).
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;
    let rows_in: String = (0..2000).map(|i| format!("{{\"id\":\"r{i}\",\"text\":\"wind power {i}\"}}\n")).collect();
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(rows_in.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    std::fs::write(dir.path().join("cut.jsonl.gz"), &gz[..gz.len() / 2]).unwrap();
    let (o, rows) = score("cut.jsonl.gz", &["--summary", "cut.json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!rows.is_empty() && rows.len() < 2000, "{} rows", rows.len());
    assert!(rows.iter().all(|r| r["error"].is_null()), "no error rows, only the rows read");
    let err = stderr(&o);
    let at = format!("cut.jsonl.gz:{}: the input cannot be read on from here", rows.len() + 1);
    assert!(err.contains(&at), "{err}");
    let summary = read_json(dir.path(), "cut.json");
    assert_eq!(summary["rows"], rows.len(), "{summary}");
    assert!(summary["stopped"].as_str().unwrap().starts_with(&at), "{summary}");
    assert!(err.contains("the gzip data is cut short, corrupt, or followed by bytes that are not gzip"), "{err}");
    // Whole gzip data followed by other bytes: every row is written, and the run fails
    // saying so at the line after the last.
    std::fs::write(dir.path().join("junk.jsonl.gz"), [&gz[..], b"not gzip at all\n"].concat()).unwrap();
    let (o, rows) = score("junk.jsonl.gz", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(rows.len(), 2000);
    let err = stderr(&o);
    assert!(err.contains("junk.jsonl.gz:2001: the input cannot be read on from here: the gzip data"), "{err}");
}

#[test]
fn resume_finishes_an_interrupted_run_identically() {
    let dir = trained_dir();
    let input: String = (0..50)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"id": i, "text": format!("I love wind power {i}"), "target": "Wind Power"})
            )
        })
        .collect();
    common::write(dir.path(), "in.jsonl", &input);
    let o = stancer(&["score", "--model", "stance", "--input", "in.jsonl", "--output", "full.jsonl"], dir.path());
    assert!(o.status.success());
    let full = std::fs::read_to_string(dir.path().join("full.jsonl")).unwrap();
    // An interrupted run: 20 complete rows and half of the 21st.
    let cut: usize = full.lines().take(20).map(|l| l.len() + 1).sum::<usize>() + 15;
    std::fs::write(dir.path().join("part.jsonl"), &full[..cut]).unwrap();
    let o = stancer(
        &["score", "--model", "stance", "--input", "in.jsonl", "--output", "part.jsonl", "--resume"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resumed after 20 rows"), "{}", stderr(&o));
    assert!(stderr(&o).contains("processed 30 of 30 rows"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.path().join("part.jsonl")).unwrap(), full);
}

#[test]
fn resume_refuses_an_output_that_another_input_model_or_option_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let rows = |from: usize| -> String {
        (from..from + 30)
            .map(|i| format!("{}\n", serde_json::json!({"id": format!("r{i}"), "text": "I love wind power"})))
            .collect()
    };
    common::write(p, "in.jsonl", &rows(0));
    common::write(p, "other.jsonl", &rows(100));
    let models = shipped_models();
    let score = |extra: &[&str]| {
        let mut args = vec!["score", "--models", &models, "--model", "stance", "--input", "in.jsonl"];
        args.extend_from_slice(extra);
        stancer(&args, p)
    };
    assert!(score(&["--output", "full.jsonl"]).status.success());
    assert!(score(&["--output", "full.csv"]).status.success());
    let full = std::fs::read_to_string(p.join("full.jsonl")).unwrap();
    let first10: String = full.lines().take(10).map(|l| format!("{l}\n")).collect();
    // Each output below is refused and left as it was.
    let refused = |name: &str, content: &[u8], args: &[&str], why: &str| {
        std::fs::write(p.join(name), content).unwrap();
        let o = stancer(&[&["score", "--models", &models, "--resume", "--output", name], args].concat(), p);
        assert!(!o.status.success() && stderr(&o).contains(why), "{name}: {}", stderr(&o));
        assert_eq!(std::fs::read(p.join(name)).unwrap(), content, "{name} changed");
    };
    // Rows of another input: the last row's id is not the id of the input row it stands for.
    refused(
        "a.jsonl",
        first10.as_bytes(),
        &["--model", "stance", "--input", "other.jsonl"],
        "the output's last row has id \"r9\", but the input row it stands for (other.jsonl:10) has id \"r109\"",
    );
    // Rows of another model (a stance label for the sentiment model).
    refused("b.jsonl", first10.as_bytes(), &["--model", "sentiment", "--input", "in.jsonl"], "the label");
    // Another CSV header (no top_features column), JSONL rows under a CSV name.
    let csv: String =
        std::fs::read_to_string(p.join("full.csv")).unwrap().lines().take(5).map(|l| format!("{l}\n")).collect();
    refused("c.csv", csv.as_bytes(), &["--model", "stance", "--input", "in.jsonl", "--explain", "2"], "its header is");
    refused("d.csv", first10.as_bytes(), &["--model", "stance", "--input", "in.jsonl"], "its header is");
    // CSV rows under a JSONL name; gzip data under a plain name.
    refused("e.jsonl", csv.as_bytes(), &["--model", "stance", "--input", "in.jsonl"], "not a JSON object with an id");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, first10.as_bytes()).unwrap();
    refused("f.jsonl", &gz.finish().unwrap(), &["--model", "stance", "--input", "in.jsonl"], "holds gzip data");
    // Rows of another command: each command knows the fields of its own rows.
    assert!(stancer(&["extract", "--input", "in.jsonl", "--output", "x.jsonl"], p).status.success());
    let extracted: String =
        std::fs::read_to_string(p.join("x.jsonl")).unwrap().lines().take(10).map(|l| format!("{l}\n")).collect();
    let analyze = ["analyze", "--models", &models, "--target", "wind power"];
    for (command, content, why) in [
        (&["extract"][..], &first10, "which this command does not write"),
        (&analyze[..], &extracted, "its last row has no field \"target\""),
        (&["score", "--models", &models, "--model", "stance"][..], &extracted, "the field \"quotes\""),
    ] {
        std::fs::write(p.join("h.jsonl"), content).unwrap();
        let o = stancer(&[command, &["--input", "in.jsonl", "--resume", "--output", "h.jsonl"]].concat(), p);
        assert_eq!(o.status.code(), Some(1), "{command:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(why), "{command:?}: {}", stderr(&o));
        assert_eq!(&std::fs::read_to_string(p.join("h.jsonl")).unwrap(), content, "{command:?} changed it");
    }
    // The same output, from this input and model, is continued.
    std::fs::write(p.join("g.jsonl"), &first10).unwrap();
    assert!(score(&["--output", "g.jsonl", "--resume"]).status.success());
    assert_eq!(std::fs::read_to_string(p.join("g.jsonl")).unwrap(), full);
    // A --summary that names the output is refused before anything is written.
    let o = score(&["--output", "full.jsonl", "--summary", "./full.jsonl"]);
    assert!(stderr(&o).contains("is the --output file"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(p.join("full.jsonl")).unwrap(), full);
    let o = score(&["--output", "new.jsonl", "--summary", "new.jsonl"]);
    assert!(stderr(&o).contains("is the --output file") && !p.join("new.jsonl").exists(), "{}", stderr(&o));
}

#[test]
fn resume_continues_a_gzip_output_cut_off_anywhere() {
    use flate2::read::MultiGzDecoder;
    use std::io::Read;
    let gunzip = |path: &std::path::Path| {
        let mut s = String::new();
        MultiGzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut s).unwrap();
        s
    };
    let dir = trained_dir();
    // Varied texts, so the compressed file is long enough to cut inside its data.
    let input: String = (0..400)
        .map(|i| {
            let text = format!("row {i}: wind power {} is {}", i * 7919 % 1000, ["good", "bad", "fine"][i % 3]);
            format!("{}\n", serde_json::json!({"id": i, "text": text, "target": "Wind Power"}))
        })
        .collect();
    common::write(dir.path(), "in.jsonl", &input);
    let score = |out: &str| {
        stancer(&["score", "--model", "stance", "--input", "in.jsonl", "--output", out, "--resume"], dir.path())
    };
    let o = score("full.jsonl.gz");
    assert!(o.status.success(), "{}", stderr(&o));
    let full_gz = std::fs::read(dir.path().join("full.jsonl.gz")).unwrap();
    let full = gunzip(&dir.path().join("full.jsonl.gz"));
    assert_eq!(full.lines().count(), 400);
    // Cut in the header, in the data, in the trailer, and not at all.
    let n = full_gz.len();
    for cut in [0, 5, 10, 100, n / 3, n / 2, n - 8, n - 1, n] {
        let part = dir.path().join("part.jsonl.gz");
        std::fs::write(&part, &full_gz[..cut]).unwrap();
        let o = score("part.jsonl.gz");
        assert!(o.status.success(), "cut at {cut}: {}", stderr(&o));
        assert_eq!(gunzip(&part), full, "cut at {cut}");
        if cut == n {
            assert!(stderr(&o).contains("resumed after 400 rows"), "{}", stderr(&o));
            assert_eq!(std::fs::read(&part).unwrap(), full_gz, "a finished file is left as it is");
        }
        if cut == n / 2 {
            // Interrupted again, inside the member the resumed run appended.
            let twice = std::fs::read(&part).unwrap();
            std::fs::write(&part, &twice[..twice.len() - 30]).unwrap();
            let o = score("part.jsonl.gz");
            assert!(o.status.success(), "{}", stderr(&o));
            assert_eq!(gunzip(&part), full);
        }
    }
    assert!(!dir.path().join("part.jsonl.gz.resume-tmp").exists());

    // What is not an interrupted output of this input is refused and left alone.
    common::write(dir.path(), "notgz.jsonl.gz", "plain text\n");
    let o = score("notgz.jsonl.gz");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("notgz.jsonl.gz is named .gz but is not gzip"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.path().join("notgz.jsonl.gz")).unwrap(), "plain text\n");
    common::write(dir.path(), "longer.jsonl", &format!("{full}{}\n", full.lines().next().unwrap()));
    let o = score("longer.jsonl");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already holds 401 rows but in.jsonl has only 400"), "{}", stderr(&o));
    // It skipped the rows only to find it could not continue: no "resumed after" first.
    assert!(!stderr(&o).contains("resumed after"), "{}", stderr(&o));
}

#[test]
fn train_refuses_a_bad_out_or_compare_before_reading_any_data() {
    let dir = trained_dir();
    let p = dir.path();
    let current = std::fs::read(p.join("models/stance.safetensors")).unwrap();
    // The data file does not exist: each of these must be refused before it is opened.
    let train = |args: &[&str]| {
        let task = if args.contains(&"sentiment") { [].as_slice() } else { ["--task", "stance"].as_slice() };
        stancer(&[&["train", "--data", "missing.jsonl", "--folds", "3"], task, args].concat(), p)
    };
    let refused = |args: &[&str], why: &str| {
        let o = train(args);
        assert!(!o.status.success() && stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("missing.jsonl"), "{args:?} got as far as the data: {}", stderr(&o));
    };
    // --out naming the model it is compared with would lose that model to its own backup.
    refused(
        &["--out", "models/stance.safetensors", "--compare", "models/./stance.safetensors", "--promote"],
        "is the --compare model",
    );
    let o = train(&["--out", "models/stance.safetensors", "--compare", "models/stance.safetensors"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    refused(&["--out", "x.safetensors", "--compare", "models/nothing.safetensors"], "nothing.safetensors");
    // So are settings out of range, as usage errors.
    for (args, why) in [
        (&["--l2", "NaN"][..], "l2"),
        (&["--folds", "1"][..], "folds"),
        (&["--hash-bits", "40"][..], "hash_bits"),
        (&["--word-ngrams", "3-1"][..], "word_ngrams"),
        (&["--solver", "sgd", "--epochs", "0"][..], "epochs"),
        (&["--label-map", "1=bogus"][..], "not a label of task stance"),
    ] {
        refused(&[&["--out", "x.safetensors"], args].concat(), why);
        assert_eq!(train(&[&["--out", "x.safetensors"], args].concat()).status.code(), Some(2), "{args:?}");
    }
    // One column for two roles, and stdin twice, are mistakes in the command.
    for (args, why) in [
        (&["--text-column", "stance", "--label-column", "stance"][..], "--text-column and --label-column"),
        (&["--label-column", "id", "--id-column", "id"][..], "--label-column and --id-column"),
        (&["--data", "-", "-"][..], "stdin (-) more than once"),
        // Column names for JSONL files, which have none, would be ignored.
        (&["--text-column", "tweet"][..], "--text-column names a CSV column, but no --data file is read as CSV"),
    ] {
        let o = train(&[&["--out", "x.safetensors"], args].concat());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
    }
    let o = stancer(&["eval", "--model", "models/stance.safetensors", "--data", "x.csv", "--text-column", "label"], p);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    refused(
        &["--task", "sentiment", "--out", "x.safetensors", "--compare", "models/stance.safetensors"],
        "is a stance model",
    );
    #[cfg(unix)]
    {
        std::os::unix::net::UnixListener::bind(p.join("special")).unwrap();
        refused(&["--out", "special"], "is not a regular file");
        std::fs::create_dir(p.join("ro")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p.join("ro"), std::fs::Permissions::from_mode(0o555)).unwrap();
        // Root writes anywhere; the check is only meaningful for other users.
        if std::fs::write(p.join("ro/probe"), "").is_err() {
            refused(&["--out", "ro/m.safetensors"], "cannot be written");
        }
    }
    // A summary over a model would lose it.
    for (args, flag) in [
        (
            &[
                "--out",
                "x.safetensors",
                "--compare",
                "models/stance.safetensors",
                "--summary",
                "models/stance.safetensors",
            ][..],
            "--compare",
        ),
        (&["--out", "x.safetensors", "--summary", "./x.safetensors"][..], "--out"),
    ] {
        let o = train(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("is the {flag} model")), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read(p.join("models/stance.safetensors")).unwrap(), current);
    // A run refused for its --compare model still writes its summary, over an earlier run's.
    std::fs::write(p.join("earlier.json"), r#"{"earlier": true}"#).unwrap();
    let o = train(&["--out", "x.safetensors", "--compare", "models/nothing.safetensors", "--summary", "earlier.json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let summary = read_json(p, "earlier.json");
    assert!(summary["error"].as_str().unwrap().contains("nothing.safetensors"), "{summary}");
    // A link is written through, to the file it names.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("real.safetensors", p.join("link.safetensors")).unwrap();
        let o = stancer(
            &["train", "--task", "stance", "--data", "train.jsonl", "--folds", "0", "--out", "link.safetensors"],
            p,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(p.join("link.safetensors").is_symlink() && p.join("real.safetensors").is_file());
    }
    // Stance rows that name no target train the pooled head only, which the run says.
    let rows: String = (0..40)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"id": i, "text": format!("wind {i}"), "label": (["favor", "against"][i % 2])})
            )
        })
        .collect();
    common::write(p, "untargeted.jsonl", &rows);
    for solver in ["lbfgs", "sgd"] {
        let args =
            ["train", "--task", "stance", "--data", "untargeted.jsonl", "--folds", "0", "--out", "u.safetensors"];
        let o = stancer(&[&args[..], &["--solver", solver]].concat(), p);
        assert!(o.status.success() && stderr(&o).contains("no row names a target"), "{solver}: {}", stderr(&o));
    }
}

#[test]
fn batch_flags_that_cannot_apply_are_refused_and_names_are_read_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let models = shipped_models();
    common::write(p, "in.jsonl", "{\"id\": \"a\", \"text\": \"wind power is good\"}\n");
    let score = |args: &[&str]| stancer(&[&["score", "--models", &models, "--model", "stance"], args].concat(), p);
    for flag in ["--id-column", "--target-column"] {
        let o = score(&["--input", "in.jsonl", flag, "key"]);
        assert!(stderr(&o).contains(&format!("{flag} names a CSV column")), "{}", stderr(&o));
        // A usage mistake, as clap's own: a job can tell a command to fix from a failed run.
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    }
    let o = score(&["--input", "in.jsonl", "--max-text-chars", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Upper-case names say CSV and gzip as lower-case ones do.
    assert!(score(&["--input", "in.jsonl", "--output", "OUT.CSV"]).status.success());
    assert!(std::fs::read_to_string(p.join("OUT.CSV")).unwrap().starts_with("id,label,"));
    assert!(score(&["--input", "in.jsonl", "--output", "out.jsonl.GZ"]).status.success());
    assert_eq!(std::fs::read(p.join("out.jsonl.GZ")).unwrap()[..2], [0x1f, 0x8b]);
    std::fs::copy(p.join("OUT.CSV"), p.join("IN.CSV")).unwrap();
    let o = score(&["--input", "IN.CSV", "--text-column", "label"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("\"id\":\"a\""), "{}", stderr(&o));
}

#[test]
fn compare_and_promote_only_when_not_worse() {
    // Enough rows for a comparison to decide a promotion by, also on sgd's held-out tenth.
    let dir = trained_on(&common::stance_jsonl_rows(200));
    let models = dir.path().join("models");
    let before = std::fs::read(models.join("stance.safetensors")).unwrap();

    // A model without text features is worse: it is not promoted.
    let o = stancer(
        &[
            "train",
            "--task",
            "stance",
            "--data",
            "train.jsonl",
            "--out",
            "blind.safetensors",
            "--folds",
            "3",
            "--word-ngrams",
            "0-0",
            "--char-ngrams",
            "0-0",
            "--compare",
            "models/stance.safetensors",
            "--promote",
            "--summary",
            "blind.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("metric") && err.contains("f_avg") && err.contains("not promoted"), "{err}");
    // The job that retrains reads the decision and its figures from the summary.
    let summary = read_json(dir.path(), "blind.json");
    assert_eq!((&summary["promoted"], &summary["solver"]), (&false.into(), &"lbfgs".into()), "{summary}");
    let compare = &summary["compare"];
    assert_eq!((&compare["model"], &compare["metric"]), (&"models/stance.safetensors".into(), &"f_avg".into()));
    assert!(compare["new"].as_f64().unwrap() < compare["current"].as_f64().unwrap(), "{summary}");
    assert_eq!(summary["metrics"]["f_avg"], compare["new"], "{summary}");
    assert_eq!(std::fs::read(models.join("stance.safetensors")).unwrap(), before);
    assert!(!models.join("stance.prev.safetensors").exists());

    // The same configuration again is not worse: promoted, old file kept as .prev.
    let o = stancer(
        &[
            "train",
            "--task",
            "stance",
            "--data",
            "train.jsonl",
            "--out",
            "new.safetensors",
            "--folds",
            "3",
            "--compare",
            "models/stance.safetensors",
            "--promote",
            "--summary",
            "new.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("promoted:"), "{}", stderr(&o));
    // Its configuration is the current model's: the same folds' figures, not trained twice.
    assert!(stderr(&o).contains("has this run's configuration"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("cross-validating the configuration"), "{}", stderr(&o));
    // Promoted over `previous`: the new model is the current one, the old one kept as .prev.
    let promoted_over = |summary: &serde_json::Value, out: &str, previous: &[u8]| {
        assert_eq!(summary["promoted"], true, "{summary}");
        assert_eq!(summary["compare"]["new"], summary["compare"]["current"], "{summary}");
        assert_eq!(std::fs::read(models.join("stance.prev.safetensors")).unwrap(), previous);
        assert_eq!(
            std::fs::read(models.join("stance.safetensors")).unwrap(),
            std::fs::read(dir.path().join(out)).unwrap()
        );
        // Named after the file it replaces, as the server calls it; readable as it was; no
        // temporary file left behind.
        assert_eq!(stancer::model::load(&models.join("stance.safetensors")).unwrap().name(), "stance");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&models.join("stance.safetensors")), mode(&dir.path().join(out)));
        }
        let names: Vec<_> = std::fs::read_dir(&models).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
    };
    promoted_over(&read_json(dir.path(), "new.json"), "new.safetensors", &before);

    // Streaming (sgd): the current configuration is trained on the same rows and measured on
    // the same held-out rows.
    let sgd = |out: &str, extra: &[&str]| {
        let mut args = vec!["train", "--task", "stance", "--solver", "sgd", "--data", "train.jsonl", "--out", out];
        args.extend(["--compare", "models/stance.safetensors", "--promote", "--summary", "sgd.json"]);
        args.extend(extra);
        let o = stancer(&args, dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        // Another configuration is trained again; this run's is not.
        assert_eq!(stderr(&o).contains("on the same held-out rows"), !extra.is_empty(), "{}", stderr(&o));
        read_json(dir.path(), "sgd.json")
    };
    let current = std::fs::read(models.join("stance.safetensors")).unwrap();
    let summary = sgd("blind-sgd.safetensors", &["--word-ngrams", "0-0", "--char-ngrams", "0-0"]);
    assert_eq!((&summary["promoted"], &summary["solver"]), (&false.into(), &"sgd".into()), "{summary}");
    assert!(summary["compare"]["new"].as_f64().unwrap() < summary["compare"]["current"].as_f64().unwrap());
    assert_eq!(summary["metrics"]["f_avg"], summary["compare"]["new"], "{summary}");
    // The current model as it is, on the held-out rows (which it was trained on, as the
    // record of its training texts says: none are left to compare on).
    assert!(summary["compare"]["current_as_is"].as_f64().unwrap() > 0.9, "{summary}");
    assert_eq!(summary["compare"]["unseen"]["rows"], 0, "{summary}");
    assert_eq!(std::fs::read(models.join("stance.safetensors")).unwrap(), current);
    promoted_over(&sgd("same-sgd.safetensors", &[]), "same-sgd.safetensors", &current);

    // A promotion that fails (the backup's name is taken by a directory) leaves the current
    // model as it was, and the summary still carries the figures measured before it failed.
    let current = std::fs::read(models.join("stance.safetensors")).unwrap();
    std::fs::remove_file(models.join("stance.prev.safetensors")).unwrap();
    std::fs::create_dir(models.join("stance.prev.safetensors")).unwrap();
    let args = ["train", "--task", "stance", "--data", "train.jsonl", "--out", "failed.safetensors", "--folds", "3"];
    let more = ["--compare", "models/stance.safetensors", "--promote", "--summary", "failed.json"];
    let o = stancer(&[&args[..], &more[..]].concat(), dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let summary = read_json(dir.path(), "failed.json");
    assert!(summary["error"].as_str().unwrap().contains("could not be promoted"), "{summary}");
    assert_eq!(summary["solver"], "lbfgs", "{summary}");
    assert_eq!(summary["metrics"]["f_avg"], summary["compare"]["new"], "{summary}");
    assert!(summary["compare"]["current"].is_f64() && summary["promoted"] == false, "{summary}");
    assert_eq!(std::fs::read(models.join("stance.safetensors")).unwrap(), current);

    // On a handful of rows both models score alike by chance: not promoted.
    common::write(dir.path(), "few.jsonl", &common::stance_jsonl_rows(5));
    let args = ["train", "--task", "stance", "--data", "few.jsonl", "--out", "few.safetensors", "--folds", "3"];
    let more = ["--compare", "models/stance.safetensors", "--promote", "--summary", "few.json"];
    let o = stancer(&[&args[..], &more[..]].concat(), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not promoted: the comparison rests on 30 rows of 25 distinct texts, too few"),
        "{}",
        stderr(&o)
    );
    assert_eq!(read_json(dir.path(), "few.json")["promoted"], false);
    // Given four times, they are still 25 texts (the "none" rows of both targets share theirs).
    common::write(dir.path(), "few2.jsonl", &common::stance_jsonl_rows(5).repeat(4));
    let args = ["train", "--task", "stance", "--data", "few2.jsonl", "--out", "few.safetensors", "--folds", "3"];
    let o = stancer(&[&args[..], &more[..]].concat(), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("rests on 120 rows of 25 distinct texts"), "{}", stderr(&o));
    assert_eq!(read_json(dir.path(), "few.json")["promoted"], false);
    assert_eq!(std::fs::read(models.join("stance.safetensors")).unwrap(), current);
}

/// Retraining the current configuration on other rows scores as well as itself, yet the
/// model it would replace may serve those rows better: on rows it was not trained on (its
/// file records its training texts), that refuses promotion; a file without the record only
/// gets a warning.
#[test]
fn compare_scores_the_current_model_as_it_is() {
    // Made-up cue words that no other row shares: a model knows one only from rows with it.
    let word = |label: usize, j: usize| -> String {
        let mut x = ((label * 1000 + j) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..8)
            .map(|_| {
                x ^= x >> 29;
                x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                (b'a' + (x >> 59) as u8 % 26) as char
            })
            .collect()
    };
    let rows = |copies: usize, filler: &str| {
        let mut out = String::new();
        for j in 0..150 {
            for (l, label) in ["favor", "against", "none"].iter().enumerate() {
                for c in 0..copies {
                    let text = format!("{filler} {} {c}", word(l, j));
                    let row = serde_json::json!({"id": format!("{filler}-{j}-{l}-{c}"), "text": text,
                        "target": "Wind Power", "label": label});
                    out += &format!("{row}\n");
                }
            }
        }
        out
    };
    // The current model learnt every cue word; the new rows carry each one once, so a model
    // trained on some of them cannot know the rest.
    let dir = trained_on(&rows(3, "they said"));
    let models = dir.path().join("models");
    let before = std::fs::read(models.join("stance.safetensors")).unwrap();
    common::write(dir.path(), "new.jsonl", &rows(1, "now"));
    let args = ["train", "--task", "stance", "--data", "new.jsonl", "--out", "new.safetensors", "--folds", "3"];
    let more = ["--compare", "models/stance.safetensors", "--promote", "--summary", "new.json"];
    let o = stancer(&[&args[..], &more[..]].concat(), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("as is") && err.contains("was trained on other data"), "{err}");
    assert!(err.contains("texts) models/stance.safetensors was not trained on: f_avg new"), "{err}");
    assert!(err.contains("texts models/stance.safetensors was not trained on, it scores f_avg 100.00"), "{err}");
    let summary = read_json(dir.path(), "new.json");
    let compare = &summary["compare"];
    // Its configuration is this run's: alike on these rows.
    assert_eq!(compare["new"], compare["current"], "{summary}");
    assert!(compare["new"].as_f64().unwrap() < 0.6, "{summary}");
    assert!(compare["current_as_is"].as_f64().unwrap() > 0.9, "{summary}");
    assert_eq!(compare["current_trained_on_this_data"], false, "{summary}");
    // It never saw any of these rows; its record says "seen" of about one text in a hundred
    // it never saw, and those are left out too.
    let unseen = &compare["unseen"];
    assert!((440..=450).contains(&unseen["texts"].as_u64().unwrap()), "{summary}");
    assert!(unseen["new"].as_f64().unwrap() < 0.6 && unseen["current_as_is"].as_f64().unwrap() > 0.9, "{summary}");
    assert_eq!(summary["promoted"], false, "{summary}");
    assert_eq!(std::fs::read(models.join("stance.safetensors")).unwrap(), before);

    // Rows it was trained on, given with the new ones, flatter it there, but are left out.
    let mixed = format!("{}{}", rows(3, "they said"), rows(1, "now"));
    common::write(dir.path(), "mixed.jsonl", &mixed);
    let args = ["train", "--task", "stance", "--data", "mixed.jsonl", "--out", "mixed.safetensors", "--folds", "3"];
    let o = stancer(&[&args[..], &more[..]].concat(), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let unseen = &read_json(dir.path(), "new.json")["compare"]["unseen"];
    assert!((440..=450).contains(&unseen["rows"].as_u64().unwrap()), "{unseen}");

    // A file written before models recorded their training texts: a warning only, and the
    // configuration's figures decide.
    let current = stancer::model::load(&models.join("stance.safetensors")).unwrap();
    let mut meta = current.meta().clone();
    meta.training.seen_texts = None;
    let old = stancer::model::LinearModel::new(meta, current.featurizer().lexicon().cloned(), current.heads().to_vec());
    stancer::model::save(&old.unwrap(), &models.join("stance.safetensors")).unwrap();
    let before = std::fs::read(models.join("stance.safetensors")).unwrap();
    let o = stancer(
        &[&args[..3], &["--data", "new.jsonl", "--out", "new.safetensors", "--folds", "3"], &more[..]].concat(),
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning: models/stance.safetensors as it is scores f_avg"), "{err}");
    let summary = read_json(dir.path(), "new.json");
    assert_eq!(summary["compare"]["unseen"], serde_json::Value::Null, "{summary}");
    assert_eq!(summary["promoted"], true, "{summary}");
    assert_eq!(std::fs::read(models.join("stance.prev.safetensors")).unwrap(), before);

    // On the rows it was trained on, its figures are said to be so, and no warning is given.
    let args = ["train", "--task", "stance", "--data", "new.jsonl", "--out", "again.safetensors", "--folds", "3"];
    let o = stancer(
        &[&args[..], &["--compare", "models/stance.safetensors", "--summary", "again.json"]].concat(),
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("was trained on these rows") && !stderr(&o).contains("warning"), "{}", stderr(&o));
    assert_eq!(read_json(dir.path(), "again.json")["compare"]["current_trained_on_this_data"], true);
}

/// --delimiter reads a file whose name says nothing (stdin, a pipe) as CSV, as its check
/// says; a file named as JSONL stays JSONL.
#[test]
fn eval_reads_delimited_rows_from_stdin() {
    let dir = trained_dir();
    let mut tsv = String::from("text\ttarget\tlabel\n");
    for line in std::fs::read_to_string(dir.path().join("train.jsonl")).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let field = |k: &str| row[k].as_str().unwrap().to_string();
        tsv += &format!("{}\t{}\t{}\n", field("text"), field("target"), field("label"));
    }
    let eval = ["eval", "--model", "models/stance.safetensors", "--data", "-", "--delimiter", "tab"];
    let o = stancer_stdin(&eval, dir.path(), tsv.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(m["accuracy"].as_f64().unwrap() > 0.9, "{m}");
    let o = stancer(
        &["eval", "--model", "models/stance.safetensors", "--data", "train.jsonl", "--delimiter", ";"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = stancer(
        &["eval", "--model", "models/stance.safetensors", "--data", "train.jsonl", "--label-map", "x=y"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// The same CSV file read through another label column is other data.
#[test]
fn another_csv_column_is_other_data() {
    let mut csv = String::from("text,target,label,relabel\n");
    for line in common::stance_jsonl_rows(20).lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let (text, target, label) = (&row["text"], &row["target"], &row["label"]);
        csv += &format!("{text},{target},{label},{label}\n");
    }
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "data.csv", &csv);
    let train = |extra: &[&str], summary: &str| {
        let args = ["train", "--task", "stance", "--data", "data.csv", "--folds", "3", "--summary", summary];
        let o = stancer(&[&args[..], extra].concat(), dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        read_json(dir.path(), summary)
    };
    train(&["--out", "cur.safetensors"], "cur.json");
    let same = train(&["--out", "a.safetensors", "--compare", "cur.safetensors"], "a.json");
    assert_eq!(same["compare"]["current_trained_on_this_data"], true, "{same}");
    let other =
        train(&["--out", "b.safetensors", "--compare", "cur.safetensors", "--label-column", "relabel"], "b.json");
    assert_eq!(other["compare"]["current_trained_on_this_data"], false, "{other}");
}

#[test]
fn promotion_refuses_a_model_replaced_while_the_run_trained() {
    use std::io::{BufRead, Write};
    let rows = common::stance_jsonl_rows(30);
    let dir = trained_on(&rows);
    let models = dir.path().join("models");
    // Another model, to stand for one that another run promoted meanwhile.
    let o = stancer(&["train", "--task", "stance", "--data", "train.jsonl", "--out", "other.safetensors"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let args = ["train", "--task", "stance", "--data", "-", "--out", "new.safetensors", "--folds", "3"];
    let more = ["--compare", "models/stance.safetensors", "--promote", "--summary", "race.json"];
    let mut child = command(&[&args[..], &more[..]].concat(), dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The run has read the current model once it copies its stdin; replace it then.
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("copying - to a temporary file") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "the run ended before reading its data");
    }
    std::fs::copy(dir.path().join("other.safetensors"), models.join("stance.safetensors")).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(rows.as_bytes()).unwrap();
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1), "{rest}");
    assert!(rest.contains("changed since this run read it to compare with"), "{rest}");
    // The model promoted meanwhile serves on; nothing was backed up over.
    let other = std::fs::read(dir.path().join("other.safetensors")).unwrap();
    assert_eq!(std::fs::read(models.join("stance.safetensors")).unwrap(), other);
    assert!(!models.join("stance.prev.safetensors").exists());
    let race = read_json(dir.path(), "race.json");
    assert!(race["error"].as_str().unwrap().contains("not promoted") && race["promoted"] == false, "{race}");
    // --folds 0 leaves nothing to compare by: refused before training.
    let args = [&args[..4], &["train.jsonl", "--out", "x.safetensors", "--folds", "0"], &more[..2]].concat();
    let o = stancer(&args, dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("give --folds 2 or more") && !stderr(&o).contains("training"), "{}", stderr(&o));
}

const ARTICLE: &str = "Senator Jane Doe said on Monday that the plan was “a disaster for working families.” \
Later, Doe called the bill “reckless.”\n\n“We will fight it,” she added.";

fn shipped_models() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/models").to_string()
}

#[test]
fn extract_finds_quotes_and_speakers_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let rows = format!(
        "{}\n{}\n",
        serde_json::json!({"id": "a1", "text": ARTICLE, "section": "ignored"}),
        serde_json::json!({"id": "a2", "text": ""})
    );
    common::write(dir.path(), "docs.jsonl", &rows);
    let o = stancer(&["extract", "--input", "docs.jsonl", "--output", "quotes.jsonl"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let out = std::fs::read_to_string(dir.path().join("quotes.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2);
    let quotes = rows[0]["quotes"].as_array().unwrap();
    assert!(quotes.len() >= 3, "{out}");
    assert!(quotes.iter().all(|q| q["speaker"] == "Jane Doe"), "{out}");
    assert!(quotes.iter().any(|q| q["cue"]["text"] == "called"), "{out}");
    let speakers = rows[0]["speakers"].as_array().unwrap();
    assert_eq!(speakers[0]["name"], "Jane Doe");
    assert!(rows[1]["error"].as_str().unwrap().contains("empty"));
    // Confidences print as the f32 they are (0.9, not 0.8999999761581421), and id comes first.
    assert!(out.starts_with("{\"id\":\"a1\",\"quotes\":"), "{out}");
    for q in quotes {
        let c = q["confidence"].as_f64().unwrap();
        assert!(out.contains(&format!("\"confidence\":{}", c as f32)), "{c} in {out}");
    }
}

#[test]
fn extract_reads_one_plain_text_document_as_a_batch_row_would() {
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "article.txt", ARTICLE);
    common::write(dir.path(), "docs.jsonl", &format!("{}\n", serde_json::json!({"id": "a1", "text": ARTICLE})));
    let o = stancer(&["extract", "article.txt"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let one: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = stancer(&["extract", "--input", "docs.jsonl"], dir.path());
    let mut row: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    row.as_object_mut().unwrap().remove("id");
    assert_eq!(one, row);
    assert_eq!(one["speakers"][0]["name"], "Jane Doe");
    // Options of a batch are refused, as analyze refuses them; a file and --input are one too many.
    let o = stancer(&["extract", "--resume", "article.txt"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--resume is for a batch of rows"), "{}", stderr(&o));
    let o = stancer(&["extract", "--input", "docs.jsonl", "article.txt"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Given as rows, the article fails each line as JSON, and the summary says what to do.
    let o = stancer(&["extract", "--input", "article.txt"], dir.path());
    assert!(stderr(&o).contains("a plain-text article is read whole by `stancer extract FILE`"), "{}", stderr(&o));
    let o = stancer(&["extract", "--max-text-chars", "10", "article.txt"], dir.path());
    assert!(stderr(&o).contains("article.txt: the document is over --max-text-chars, 10"), "{}", stderr(&o));
}

#[test]
fn analyze_one_document_and_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "article.txt", ARTICLE);
    let models = shipped_models();
    let o = stancer(&["analyze", "--models", &models, "--target", "the plan", "article.txt"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let verdicts = v["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 1, "{v}");
    assert_eq!(verdicts[0]["speaker"], "Jane Doe");
    assert!(verdicts[0]["quote_count"].as_u64().unwrap() >= 3);
    assert!(v["quotes"][0]["stance"]["label"].is_string());
    // --output takes the analysis; options of a batch of rows are refused, not ignored.
    let one = ["analyze", "--models", &models, "--target", "the plan", "article.txt"];
    let o = stancer(&[&one[..], &["--output", "one.json"]].concat(), dir.path());
    assert!(o.status.success() && o.stdout.is_empty(), "{}", stderr(&o));
    assert_eq!(read_json(dir.path(), "one.json"), v);
    let o = stancer(&[&one[..], &["--summary", "one-summary.json"]].concat(), dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--summary is for a batch of rows (--input FILE)"), "{}", stderr(&o));
    assert!(!dir.path().join("one-summary.json").exists());
    // A .gz name is written compressed, as a batch's output is.
    let o = stancer(&[&one[..], &["--output", "one.json.gz"]].concat(), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let mut unzipped = String::new();
    let gz = std::fs::File::open(dir.path().join("one.json.gz")).unwrap();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut unzipped).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&unzipped).unwrap(), v);
    // The text limit holds for one document too.
    let o = stancer(&[&one[..], &["--max-text-chars", "100"]].concat(), dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("article.txt: the document is over --max-text-chars, 100"), "{}", stderr(&o));

    let o = stancer(&["analyze", "--models", &models, "article.txt"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--target is required"), "{}", stderr(&o));
    common::write(dir.path(), "empty.txt", "");
    let o = stancer(&["analyze", "--models", &models, "--target", "the plan", "empty.txt"], dir.path());
    assert!(stderr(&o).contains("analysing empty.txt: invalid field text: must not be empty"), "{}", stderr(&o));

    let rows = format!(
        "{}\n{}\n",
        serde_json::json!({"id": 1, "text": ARTICLE, "target": "the plan"}),
        serde_json::json!({"id": 2, "text": ARTICLE})
    );
    common::write(dir.path(), "docs.jsonl", &rows);
    let o = stancer(
        &["analyze", "--models", &models, "--input", "docs.jsonl", "--output", "out.jsonl", "--summary", "s.json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<_> =
        read_json(dir.path(), "s.json")["models"].as_array().unwrap().iter().map(|m| m["name"].clone()).collect();
    assert_eq!(names, ["stance", "sentiment"]);
    let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows[0]["id"], "1");
    assert_eq!(rows[0]["verdicts"][0]["speaker"], "Jane Doe");
    assert!(rows[1]["error"].as_str().unwrap().contains("no target"), "{out}");
}

#[test]
fn eval_quotes_scores_against_gold() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\"We will win,\" Smith said.";
    let gold = serde_json::json!({
        "id": "g1",
        "text": text,
        "attributions": [{
            "source": [{"text": "Smith", "spans": [[15, 20]]}],
            "cue": [{"text": "said", "spans": [[21, 25]]}],
            "content": [{"text": "\"We will win,\"", "spans": [[0, 14]]}],
            "quoted": true
        }]
    });
    common::write(dir.path(), "gold.jsonl", &format!("{gold}\n"));
    let o = stancer(&["eval-quotes", "--gold", "gold.jsonl"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["quoted"]["f1"], 1.0, "{v}");
    assert_eq!(v["speaker_accuracy"], 1.0, "{v}");

    common::write(dir.path(), "bad.jsonl", "{\"id\": 1}\n");
    let o = stancer(&["eval-quotes", "--gold", "bad.jsonl"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bad.jsonl:1"), "{}", stderr(&o));
}

/// Runs the binary with `input` on a stdin that then stays open, so that the run is still
/// going however fast the machine, sends it `signal` (`-TERM`, `-INT`) once it catches the
/// signal (and 300 ms later), and returns its exit code and stderr.
fn signalled(args: &[&str], dir: &std::path::Path, input: &[u8], signal: &str) -> (Option<i32>, String) {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let mut child = command(args, dir).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    stdin.flush().unwrap();
    // A signal that came before the handler would kill the process instead: wait until the
    // kernel lists it as caught (SigCgt in /proc, a bit per signal), however slow the start.
    let number = if signal == "-INT" { 2 } else { 15 };
    let caught = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:")).map(str::trim).unwrap_or("0");
        u64::from_str_radix(mask, 16).unwrap_or(0) & (1 << (number - 1)) != 0
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !caught() {
        assert!(Instant::now() < deadline, "no handler for {signal} within 20 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 20 s of {signal}");
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (exit.code(), err)
}

#[test]
fn a_signal_ends_a_batch_with_its_output_whole_and_resumable() {
    use std::io::Read;
    let dir = trained_dir();
    let rows: String = (0..3000)
        .map(|i| format!("{{\"id\": \"r{i}\", \"text\": \"we love wind power {i}\", \"target\": \"Wind Power\"}}\n"))
        .collect();
    common::write(dir.path(), "in.jsonl", &rows);
    let o = stancer(&["score", "--model", "stance", "--input", "in.jsonl", "--output", "whole.jsonl"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let whole = std::fs::read_to_string(dir.path().join("whole.jsonl")).unwrap();
    let read_out = |name: &str| {
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        let mut s = String::new();
        if name.ends_with(".gz") {
            // Whole: a stopped run closes its gzip stream, so it decodes to the end.
            flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut s).unwrap();
        } else {
            s = String::from_utf8(bytes).unwrap();
        }
        s
    };
    for (sig, name, status, out) in [("-TERM", "SIGTERM", 143, "part.jsonl.gz"), ("-INT", "SIGINT", 130, "part.jsonl")]
    {
        // The rows come on stdin, which then stays open with nothing more to read: the run is
        // still going when the signal comes, however fast the machine.
        let args = ["score", "--model", "stance", "--output", out, "--summary", "s.json"];
        let (exit, err) = signalled(&args, dir.path(), rows.as_bytes(), sig);
        assert_eq!(exit, Some(status), "{err}");
        assert!(err.contains(&format!("{name} received: stopped on request after writing")), "{err}");
        assert!(err.contains("--resume continues the run"), "{err}");
        let summary = read_json(dir.path(), "s.json");
        assert!(summary["stopped"].as_str().unwrap().starts_with(&format!("{name} received")), "{summary}");
        let part = read_out(out);
        assert_eq!(summary["rows"].as_u64(), Some(part.lines().count() as u64));
        assert!(whole.starts_with(&part), "the stopped run's rows are the first rows of a whole run's");

        let o =
            stancer(&["score", "--model", "stance", "--input", "in.jsonl", "--output", out, "--resume"], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(read_out(out), whole);
    }
}

#[test]
fn training_reads_stdin_and_pipes_and_a_signal_ends_it_with_its_summary() {
    let dir = trained_dir();
    let rows = std::fs::read_to_string(dir.path().join("train.jsonl")).unwrap();
    let eval = |model: &str| {
        let o = stancer(&["eval", "--model", model, "--data", "train.jsonl"], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        o.stdout
    };
    // Training reads its data more than once (its digest, its rows, each sgd epoch): stdin
    // and a named pipe are copied first and train the models the file trains.
    for solver in ["lbfgs", "sgd"] {
        let args = |data: &'static str, out: &'static str| {
            ["train", "--task", "stance", "--folds", "3", "--solver", solver, "--data", data, "--out", out]
        };
        let o = stancer(&args("train.jsonl", "file.safetensors"), dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let o = stancer_stdin(&args("-", "stdin.safetensors"), dir.path(), rows.as_bytes());
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("copying - to a temporary file"), "{}", stderr(&o));
        assert_eq!(eval("stdin.safetensors"), eval("file.safetensors"), "{solver}");

        let fifo = dir.path().join("pipe.jsonl");
        let _ = std::fs::remove_file(&fifo);
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let writer = {
            let (fifo, rows) = (fifo.clone(), rows.clone());
            std::thread::spawn(move || std::fs::write(fifo, rows).unwrap())
        };
        let o = stancer(&args("pipe.jsonl", "fifo.safetensors"), dir.path());
        writer.join().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(eval("fifo.safetensors"), eval("file.safetensors"), "{solver}");
    }

    // A signal while it trains (here: while its stdin stays open) ends the run with exit
    // status 128 + the signal, no model, and a summary that says so.
    let args = ["train", "--task", "stance", "--data", "-", "--out", "stopped.safetensors", "--summary", "s.json"];
    let (exit, err) = signalled(&args, dir.path(), rows.as_bytes(), "-TERM");
    assert_eq!(exit, Some(143), "{err}");
    assert!(err.contains("training stopped: SIGTERM received; no model written"), "{err}");
    let summary = read_json(dir.path(), "s.json");
    assert_eq!(summary["stopped"], "SIGTERM received; no model written", "{summary}");
    assert!(summary["error"].is_null() && summary["metrics"].is_null(), "{summary}");
    // Chosen by the data's size, the solver is not known yet; asked for by name, it is.
    assert!(summary["solver"].is_null(), "{summary}");
    let (exit, err) = signalled(&[&args[..], &["--solver", "sgd"]].concat(), dir.path(), rows.as_bytes(), "-TERM");
    assert_eq!(exit, Some(143), "{err}");
    assert_eq!(read_json(dir.path(), "s.json")["solver"], "sgd");
    assert!(!dir.path().join("stopped.safetensors").exists());
}

#[test]
fn eval_streams_over_chunks_and_refuses_a_file_without_rows() {
    let dir = trained_dir();
    let one = stancer(&["eval", "--model", "stance", "--data", "train.jsonl"], dir.path());
    assert!(one.status.success(), "{}", stderr(&one));
    let one: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    // Over several of eval's 4,096-row chunks: the same rows 150 times count 150 times.
    let rows = std::fs::read_to_string(dir.path().join("train.jsonl")).unwrap();
    common::write(dir.path(), "many.jsonl", &rows.repeat(150));
    let many = stancer(&["eval", "--model", "stance", "--data", "many.jsonl"], dir.path());
    assert!(many.status.success(), "{}", stderr(&many));
    let one_thread = stancer(&["eval", "--model", "stance", "--data", "many.jsonl", "--threads", "1"], dir.path());
    assert_eq!(one_thread.stdout, many.stdout);
    let many: serde_json::Value = serde_json::from_slice(&many.stdout).unwrap();
    let n = one["rows"].as_u64().unwrap();
    assert!(n * 150 > 2 * 4096, "{n} rows");
    assert_eq!(many["rows"].as_u64(), Some(n * 150));
    assert_eq!(many["accuracy"], one["accuracy"]);
    let scaled: Vec<Vec<u64>> = one["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|c| c.as_u64().unwrap() * 150).collect())
        .collect();
    assert_eq!(many["confusion"], serde_json::json!(scaled));
    assert!(!stderr(&one_thread).contains("no row names a target"), "{}", stderr(&one_thread));
    // Rows without targets are scored by the pooled head, which eval says.
    let untargeted: String = rows
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("target");
            format!("{v}\n")
        })
        .collect();
    common::write(dir.path(), "untargeted.jsonl", &untargeted);
    let o = stancer(&["eval", "--model", "stance", "--data", "untargeted.jsonl"], dir.path());
    assert!(o.status.success() && stderr(&o).contains("no row names a target"), "{}", stderr(&o));

    common::write(dir.path(), "blank.jsonl", "\n\n");
    let o = stancer(&["eval", "--model", "stance", "--data", "blank.jsonl"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("blank.jsonl: no rows to evaluate"), "{}", stderr(&o));
}

#[test]
fn a_stream_on_stdin_gets_each_row_back_while_it_is_still_open() {
    use std::io::{BufRead, Write};
    use std::time::Duration;
    let dir = trained_dir();
    // With the default chunk of 1,024 rows: the rows read so far go when the input stalls.
    let mut child = command(&["score", "--model", "stance"], dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        let mut line = String::new();
        while stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
            if tx.send(std::mem::take(&mut line)).is_err() {
                break;
            }
        }
    });
    for i in 0..3 {
        writeln!(stdin, "{{\"id\": \"s{i}\", \"text\": \"we love wind power\", \"target\": \"Wind Power\"}}").unwrap();
        stdin.flush().unwrap();
        // The input stays open: the row must come out anyway.
        let row = rx.recv_timeout(Duration::from_secs(20)).expect("a row out within 20 s of its row in");
        let row: serde_json::Value = serde_json::from_str(&row).unwrap();
        assert_eq!(row["id"], format!("s{i}"));
        assert_eq!(row["label"], "favor");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}
