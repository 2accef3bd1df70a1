//! A training run killed with SIGKILL again and again and resumed each time with `--resume`:
//! half of the kills at random moments (seeded), half in the middle of a checkpoint write (the
//! program pauses between a checkpoint file's temporary file and its rename when
//! `DUALSCORE_PAUSE_IN_CHECKPOINT_WRITE` is set, and says so on stderr, and the test kills it
//! there). After every kill the run's folder holds a checkpoint that loads as `--resume` loads
//! it (or none before the first), of a step no earlier than the one before, and the metrics
//! written so far agree with an uninterrupted run's. Each run that reaches its last step ends
//! with the files of the uninterrupted run, bit for bit: weights, optimizer state, averaged
//! weights, checkpoint description, metrics and held-out losses. Runs the real binary.

#![cfg(unix)]

mod tiny_run;

use dualscore_core::train::checkpoint::{PAUSE_IN_CHECKPOINT_WRITE_ENV, PAUSE_MARKER};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tiny_run::{TinyRun, assert_same_run, has_checkpoint, load_checkpoint};

/// Steps of the run.
const STEPS: u64 = 96;
/// A checkpoint every this many steps.
const CHECKPOINT_EVERY: u64 = 4;
/// The held-out loss every this many steps.
const EVAL_EVERY: u64 = 12;
/// Kills at random moments, and kills inside a checkpoint write.
const RANDOM_KILLS: usize = 12;
const CHECKPOINT_KILLS: usize = 12;
/// How long each checkpoint file pauses before its rename when the test asks for pauses.
const PAUSE_MS: &str = "300";
/// The seed of the kill moments.
const SEED: u64 = 0x5eed_0012;
/// SIGKILL.
const SIGKILL: i32 = 9;

/// SplitMix64: the kill moments, the same in every run of the test.
struct Moments(u64);

impl Moments {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// When a round kills the program.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// After this long.
    After(Duration),
    /// At the pause of this checkpoint file, counted from 1 (four files per checkpoint: the
    /// averaged weights, the weights, the optimizer state, checkpoint.json).
    InCheckpointWrite(usize),
}

/// What a round did.
#[derive(Debug)]
struct Round {
    /// Whether SIGKILL ended the program (else it finished by itself).
    killed: bool,
    /// The pause line the program was killed at, for a kill inside a checkpoint write.
    paused_at: Option<String>,
}

/// Starts `train` (resuming when `out` holds a checkpoint), kills it at `moment` and waits for
/// it. A program that finished before the moment must have succeeded.
fn round(run: &TinyRun, out: &Path, moment: Moment) -> Round {
    let mut command = run.command(out, STEPS, has_checkpoint(out));
    command.stdout(Stdio::null());
    if let Moment::InCheckpointWrite(_) = moment {
        command.env(PAUSE_IN_CHECKPOINT_WRITE_ENV, PAUSE_MS);
    }
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            all.push_str(&line);
            all.push('\n');
            let _ = lines_tx.send(line);
        }
        all
    });
    let mut paused_at = None;
    match moment {
        Moment::After(delay) => std::thread::sleep(delay),
        Moment::InCheckpointWrite(target) => {
            // Ends when the program closes stderr (it finished) or at the target pause.
            let mut seen = 0;
            for line in lines.iter() {
                if line.starts_with(PAUSE_MARKER) {
                    seen += 1;
                    if seen == target {
                        paused_at = Some(line);
                        break;
                    }
                }
            }
        }
    }
    // SIGKILL; nothing happens to a program that has finished.
    let _ = child.kill();
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    let killed = status.signal() == Some(SIGKILL);
    assert!(
        killed || status.success(),
        "{moment:?}: the program failed: {status}\n{stderr}"
    );
    Round {
        killed,
        paused_at: paused_at.filter(|_| killed),
    }
}

/// The metrics lines of `dir` up to the first one that is not a whole line (a kill may cut the
/// last), without their times.
fn metrics_so_far(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap_or_default();
    text.split_inclusive('\n')
        .map_while(|line| {
            let mut v: Value = serde_json::from_str(line.strip_suffix('\n')?).ok()?;
            let object = v.as_object_mut()?;
            object.remove("time_s");
            object.remove("step_time_s");
            Some(v)
        })
        .collect()
}

/// The checks after a kill: the folder holds a checkpoint that loads, no earlier than the last
/// one seen (or none, before the first), and its metrics so far are the uninterrupted run's.
fn check_after_kill(out: &Path, reference: &[Value], last: &mut Option<u64>, context: &str) {
    if !has_checkpoint(out) {
        assert_eq!(
            *last, None,
            "{context}: the checkpoint of step {last:?} is gone"
        );
        return;
    }
    let step = load_checkpoint(out).unwrap_or_else(|e| panic!("{context}: {e}"));
    assert!(
        step % CHECKPOINT_EVERY == 0 || step == STEPS,
        "{context}: a checkpoint of step {step}"
    );
    assert!(
        last.is_none_or(|l| step >= l),
        "{context}: the checkpoint went back from step {last:?} to {step}"
    );
    let metrics = metrics_so_far(out);
    assert!(
        metrics.len() as u64 >= step,
        "{context}: a checkpoint of step {step} but {} steps in metrics.jsonl",
        metrics.len()
    );
    assert!(
        metrics.len() <= reference.len() && metrics[..] == reference[..metrics.len()],
        "{context}: the metrics differ from the uninterrupted run's"
    );
    *last = Some(step);
}

/// The temporary file named by a pause line (`... : <tmp> is written, ...`).
fn paused_temporary_file(line: &str) -> &Path {
    let rest = line
        .strip_prefix(PAUSE_MARKER)
        .unwrap()
        .trim_start_matches(": ");
    Path::new(rest.split(" is written").next().unwrap())
}

#[test]
fn a_run_killed_again_and_again_resumes_to_the_uninterrupted_weights() {
    let started = Instant::now();
    let run = TinyRun::new(CHECKPOINT_EVERY, EVAL_EVERY);
    let reference = run.path("uninterrupted");
    let reference_started = Instant::now();
    run.train(&reference, STEPS, false);
    // The random moments spread over a quarter of an uninterrupted run (start-up included).
    let spread = reference_started.elapsed().mul_f64(0.25);
    let reference_metrics = tiny_run::metrics(&reference);
    assert_eq!(reference_metrics.len() as u64, STEPS);

    let out = run.path("killed");
    let mut moments = Moments(SEED);
    let (mut random_kills, mut checkpoint_kills) = (0, 0);
    let (mut laps, mut rounds, mut in_pause) = (0, 0, 0);
    let mut files_killed_at: Vec<String> = Vec::new();
    let mut last = None;
    while random_kills < RANDOM_KILLS || checkpoint_kills < CHECKPOINT_KILLS {
        rounds += 1;
        let in_write = checkpoint_kills < CHECKPOINT_KILLS
            && (random_kills >= RANDOM_KILLS || rounds % 2 == 0);
        let moment = if in_write {
            Moment::InCheckpointWrite(1 + (moments.next() % 8) as usize)
        } else {
            Moment::After(spread.mul_f64(moments.unit()))
        };
        let resumed_from = last;
        let done = round(&run, &out, moment);
        let context = format!("round {rounds} ({moment:?}, resumed from step {resumed_from:?})");
        if done.killed {
            if let Some(line) = &done.paused_at {
                checkpoint_kills += 1;
                let tmp = paused_temporary_file(line);
                // Killed during the pause (not just after it): the temporary file is still there.
                in_pause += usize::from(tmp.exists());
                let name = tmp.file_name().unwrap().to_string_lossy();
                files_killed_at.push(name.split('-').next().unwrap().to_string());
            } else {
                random_kills += 1;
            }
            check_after_kill(&out, &reference_metrics, &mut last, &context);
        } else {
            // The run reached its last step between kills: it must be the uninterrupted run.
            assert_eq!(load_checkpoint(&out), Ok(STEPS), "{context}");
            assert_same_run(&reference, &out);
            laps += 1;
            std::fs::remove_dir_all(&out).unwrap();
            last = None;
        }
    }
    run.train(&out, STEPS, has_checkpoint(&out));
    assert_same_run(&reference, &out);
    files_killed_at.sort();
    files_killed_at.dedup();
    eprintln!(
        "{} kills in {rounds} rounds ({random_kills} at random moments, {checkpoint_kills} in \
         checkpoint writes, {in_pause} of them inside the pause, at files {files_killed_at:?}); \
         {laps} runs finished between kills and matched; {:.1} s",
        random_kills + checkpoint_kills,
        started.elapsed().as_secs_f64()
    );
}
