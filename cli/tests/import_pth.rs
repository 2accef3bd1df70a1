//! The committed `.pth.tar` fixture converts to the committed safetensors file: every tensor of
//! the checkpoint's `state_dict`, read by name from the `.pth.tar` itself, is in
//! `authors_tiny.safetensors` under the same name with the same shape and the same bits, and
//! that file holds nothing else.
//!
//! CI has no PyTorch, so the `.pth.tar` is read here without it: `torch.save` writes a zip
//! archive (stored, uncompressed entries) holding `data.pkl`, a pickle (protocol 2) of the
//! checkpoint whose tensors refer to raw little-endian storages `data/<key>`. The reader below
//! runs the small part of the pickle machine that such a file uses, builds nothing but plain
//! values (every class becomes an inert record), and rebuilds tensors from their storages. With
//! PyTorch, `tools/reference/authors_oracle.py --check-conversion` runs the converter itself
//! and compares the bytes.

use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

// ---- zip -------------------------------------------------------------------------------------

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// The stored (uncompressed) entries of a zip archive, by name.
fn zip_entries(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let end = (0..=bytes.len() - 22)
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .expect("no end of central directory: not a zip archive");
    let (count, mut at) = (u16_at(bytes, end + 10), u32_at(bytes, end + 16));
    let mut entries = BTreeMap::new();
    for _ in 0..count {
        assert_eq!(bytes[at..at + 4], [0x50, 0x4b, 0x01, 0x02], "central entry");
        assert_eq!(u16_at(bytes, at + 10), 0, "a compressed entry");
        let size = u32_at(bytes, at + 20);
        let (name_len, extra, comment) = (
            u16_at(bytes, at + 28),
            u16_at(bytes, at + 30),
            u16_at(bytes, at + 32),
        );
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap();
        let local = u32_at(bytes, at + 42);
        assert_eq!(
            bytes[local..local + 4],
            [0x50, 0x4b, 0x03, 0x04],
            "local entry"
        );
        let start = local + 30 + u16_at(bytes, local + 26) + u16_at(bytes, local + 28);
        entries.insert(name, bytes[start..start + size].to_vec());
        at += 46 + name_len + extra + comment;
    }
    entries
}

// ---- pickle ----------------------------------------------------------------------------------

/// A value of the pickle machine.
#[derive(Clone, Debug)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A class or function named by `module name`; never called.
    Global(String),
    /// An instance of a class: its name, constructor arguments and state, inert.
    Object(String, Vec<Value>, Option<Box<Value>>),
    /// A persistent id: a storage (its key in the archive and its class).
    Storage(String, String),
    /// A rebuilt tensor: storage key and class, element offset, shape, strides.
    Tensor(String, String, usize, Vec<usize>, Vec<usize>),
    Mark,
}

impl Value {
    fn as_str(&self) -> &str {
        match self {
            Value::Str(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    fn as_usize(&self) -> usize {
        match self {
            Value::Int(i) => usize::try_from(*i).unwrap(),
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    fn items(&self) -> &[Value] {
        match self {
            Value::Tuple(v) | Value::List(v) => v,
            other => panic!("expected a tuple, got {other:?}"),
        }
    }

    fn get(&self, key: &str) -> &Value {
        match self {
            Value::Dict(items) => {
                &items
                    .iter()
                    .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                    .unwrap_or_else(|| panic!("no key {key}"))
                    .1
            }
            other => panic!("expected a dict, got {other:?}"),
        }
    }
}

/// Runs the pickle `bytes` (the opcodes of protocol 2 that `torch.save` writes).
fn unpickle(bytes: &[u8]) -> Value {
    let mut stack: Vec<Value> = Vec::new();
    let mut memo: HashMap<usize, Value> = HashMap::new();
    let mut at = 0;
    let take = |at: &mut usize, n: usize| -> &[u8] {
        *at += n;
        &bytes[*at - n..*at]
    };
    let pop_mark = |stack: &mut Vec<Value>| -> Vec<Value> {
        let mark = stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .expect("no mark");
        let items = stack.split_off(mark + 1);
        stack.pop();
        items
    };
    loop {
        let op = take(&mut at, 1)[0];
        match op {
            0x80 => {
                take(&mut at, 1);
            }
            b'.' => return stack.pop().expect("empty stack at STOP"),
            b'}' => stack.push(Value::Dict(Vec::new())),
            b']' => stack.push(Value::List(Vec::new())),
            b')' => stack.push(Value::Tuple(Vec::new())),
            b'(' => stack.push(Value::Mark),
            b'N' => stack.push(Value::None),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'K' => stack.push(Value::Int(i64::from(take(&mut at, 1)[0]))),
            b'M' => stack.push(Value::Int(u16_at(take(&mut at, 2), 0) as i64)),
            b'J' => {
                let b = take(&mut at, 4);
                stack.push(Value::Int(i64::from(i32::from_le_bytes([
                    b[0], b[1], b[2], b[3],
                ]))));
            }
            b'G' => {
                let b: [u8; 8] = take(&mut at, 8).try_into().unwrap();
                stack.push(Value::Float(f64::from_be_bytes(b)));
            }
            b'X' => {
                let n = u32_at(take(&mut at, 4), 0);
                let s = String::from_utf8(take(&mut at, n).to_vec()).unwrap();
                stack.push(Value::Str(s));
            }
            b'c' => {
                let rest = &bytes[at..];
                let first = rest.iter().position(|&b| b == b'\n').unwrap();
                let second = rest[first + 1..].iter().position(|&b| b == b'\n').unwrap();
                let module = String::from_utf8(rest[..first].to_vec()).unwrap();
                let name = String::from_utf8(rest[first + 1..first + 1 + second].to_vec()).unwrap();
                at += first + second + 2;
                stack.push(Value::Global(format!("{module} {name}")));
            }
            b'q' => {
                let i = usize::from(take(&mut at, 1)[0]);
                memo.insert(i, stack.last().unwrap().clone());
            }
            b'r' => {
                let i = u32_at(take(&mut at, 4), 0);
                memo.insert(i, stack.last().unwrap().clone());
            }
            b'h' => {
                let i = usize::from(take(&mut at, 1)[0]);
                stack.push(memo[&i].clone());
            }
            b'j' => {
                let i = u32_at(take(&mut at, 4), 0);
                stack.push(memo[&i].clone());
            }
            b't' => {
                let items = pop_mark(&mut stack);
                stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(items));
            }
            b'u' => {
                let items = pop_mark(&mut stack);
                let Some(Value::Dict(dict)) = stack.last_mut() else {
                    panic!("SETITEMS on a non-dict");
                };
                for pair in items.chunks_exact(2) {
                    dict.push((pair[0].clone(), pair[1].clone()));
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack);
                let Some(Value::List(list)) = stack.last_mut() else {
                    panic!("APPENDS on a non-list");
                };
                list.extend(items);
            }
            b'a' => {
                let item = stack.pop().unwrap();
                let Some(Value::List(list)) = stack.last_mut() else {
                    panic!("APPEND on a non-list");
                };
                list.push(item);
            }
            b'Q' => {
                let pid = stack.pop().unwrap();
                let pid = pid.items();
                assert_eq!(pid[0].as_str(), "storage", "persistent id {pid:?}");
                let Value::Global(class) = &pid[1] else {
                    panic!("storage class {:?}", pid[1]);
                };
                stack.push(Value::Storage(pid[2].as_str().to_string(), class.clone()));
            }
            b'R' | 0x81 => {
                let args = stack.pop().unwrap().items().to_vec();
                let Value::Global(callable) = stack.pop().unwrap() else {
                    panic!("a call of something other than a global");
                };
                stack.push(match callable.as_str() {
                    "collections OrderedDict" => Value::Dict(Vec::new()),
                    "torch._utils _rebuild_tensor_v2" => {
                        let Value::Storage(key, class) = &args[0] else {
                            panic!("a tensor without a storage: {args:?}");
                        };
                        let shape = args[2].items().iter().map(Value::as_usize).collect();
                        let strides = args[3].items().iter().map(Value::as_usize).collect();
                        Value::Tensor(
                            key.clone(),
                            class.clone(),
                            args[1].as_usize(),
                            shape,
                            strides,
                        )
                    }
                    _ => Value::Object(callable, args, None),
                });
            }
            b'b' => {
                let state = stack.pop().unwrap();
                match stack.last_mut() {
                    Some(Value::Object(_, _, s)) => *s = Some(Box::new(state)),
                    // An OrderedDict's or a tensor's extra state: not needed.
                    Some(Value::Dict(_) | Value::Tensor(..)) => {}
                    other => panic!("BUILD on {other:?}"),
                }
            }
            other => panic!(
                "pickle opcode {other:#04x} at byte {} is not handled",
                at - 1
            ),
        }
    }
}

/// A checkpoint written by `torch.save`: the unpickled value and the archive's storages.
struct TorchFile {
    root: Value,
    storages: BTreeMap<String, Vec<u8>>,
}

fn read_torch_file(path: &Path) -> TorchFile {
    let entries = zip_entries(&std::fs::read(path).unwrap());
    let pickle = entries
        .keys()
        .find(|k| k.ends_with("/data.pkl"))
        .expect("no data.pkl")
        .clone();
    let prefix = pickle.trim_end_matches("data.pkl").to_string();
    let root = unpickle(&entries[&pickle]);
    let storages = entries
        .into_iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(&format!("{prefix}data/"))
                .map(|key| (key.to_string(), v))
        })
        .collect();
    TorchFile { root, storages }
}

impl TorchFile {
    /// A float32 tensor's shape and little-endian bytes (contiguous).
    fn f32_tensor(&self, tensor: &Value) -> (Vec<usize>, Vec<u8>) {
        let Value::Tensor(key, class, offset, shape, strides) = tensor else {
            panic!("not a tensor: {tensor:?}");
        };
        assert_eq!(class, "torch FloatStorage", "a tensor other than float32");
        let mut expected = vec![1; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            expected[i] = expected[i + 1] * shape[i + 1];
        }
        assert_eq!(strides, &expected, "a tensor that is not contiguous");
        let n: usize = shape.iter().product();
        (
            shape.clone(),
            self.storages[key][4 * offset..4 * (offset + n)].to_vec(),
        )
    }
}

/// The differences between the `state_dict` of a `.pth.tar` and a converted safetensors file:
/// each tensor missing, of another shape, dtype or bits, and each extra one, by name.
fn differences(pth: &TorchFile, converted: &SafeTensors<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let Value::Dict(state) = pth.root.get("state_dict") else {
        panic!("state_dict is not a dict");
    };
    let mut seen = Vec::new();
    for (name, tensor) in state {
        let name = name.as_str();
        seen.push(name.to_string());
        let (shape, bytes) = pth.f32_tensor(tensor);
        match converted.tensor(name) {
            Err(_) => problems.push(format!("{name}: missing")),
            Ok(view) if view.dtype() != Dtype::F32 => {
                problems.push(format!("{name}: {:?}", view.dtype()));
            }
            Ok(view) if view.shape() != shape.as_slice() => {
                problems.push(format!("{name}: shape {:?}, not {shape:?}", view.shape()));
            }
            Ok(view) if view.data() != bytes.as_slice() => {
                problems.push(format!("{name}: other values"));
            }
            Ok(_) => {}
        }
    }
    for name in converted.names() {
        if !seen.iter().any(|s| s == name) {
            problems.push(format!("{name}: not in the checkpoint"));
        }
    }
    problems
}

#[test]
fn the_committed_checkpoint_converts_to_the_committed_file() {
    let pth = read_torch_file(&data("authors_tiny.pth.tar"));
    let bytes = std::fs::read(data("authors_tiny.safetensors")).unwrap();
    let converted = SafeTensors::deserialize(&bytes).unwrap();
    let Value::Dict(state) = pth.root.get("state_dict") else {
        panic!("state_dict is not a dict");
    };
    assert_eq!(state.len(), 41);
    assert_eq!(converted.len(), 41);
    let problems = differences(&pth, &converted);
    assert!(problems.is_empty(), "{problems:#?}");

    // The run's record: step and arguments, as the conversion's metadata says.
    assert_eq!(pth.root.get("step").as_usize(), 1000);
    let Value::Object(class, built_with, Some(args)) = pth.root.get("args") else {
        panic!("args: {:?}", pth.root.get("args"));
    };
    assert_eq!(class, "argparse Namespace");
    assert!(built_with.is_empty(), "{built_with:?}");
    let Value::Object(_, _, Some(test_perf)) = pth.root.get("test_perf") else {
        panic!("test_perf: {:?}", pth.root.get("test_perf"));
    };
    let Value::Float(test_loss) = test_perf.get("loss") else {
        panic!("test loss: {test_perf:?}");
    };
    let (_, metadata) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = metadata.metadata().clone().unwrap();
    let source: serde_json::Value = serde_json::from_str(&metadata["dualscore.source"]).unwrap();
    assert_eq!(source["step"], 1000);
    assert_eq!(source["test_loss"], *test_loss);
    assert_eq!(source["dataset"], args.get("dataset").as_str());
    let Value::Bool(grayscale) = args.get("grayscale") else {
        panic!("grayscale: {:?}", args.get("grayscale"));
    };
    assert_eq!(source["grayscale"], *grayscale);
    assert_eq!(
        source["network_kwargs"],
        args.get("network_kwargs").as_str()
    );
    let config: serde_json::Value =
        serde_json::from_str(&metadata["dualscore.unet_config"]).unwrap();
    assert_eq!(config["scales"], 2);
    assert_eq!(config["base_width"], 8);
    assert_eq!(config["image_size"], args.get("spatial_size").as_usize());
    assert_eq!(config["image_channels"], if *grayscale { 1 } else { 3 });
}

#[test]
fn a_converted_file_with_two_tensors_swapped_or_changed_is_caught() {
    let pth = read_torch_file(&data("authors_tiny.pth.tar"));
    let bytes = std::fs::read(data("authors_tiny.safetensors")).unwrap();
    let original = SafeTensors::deserialize(&bytes).unwrap();
    // Two same-shaped tensors (the gains of the first two normalizations) swapped, and one
    // value of a third changed in its last bit.
    let (a, b) = ("network.encoder.0.1.weight", "network.encoder.0.4.weight");
    let changed = "network.decoder.0.3.weight";
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = original
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec(), view.data().to_vec()))
        .collect();
    let data_of = |name: &str| original.tensor(name).unwrap().data().to_vec();
    for (name, _, data) in &mut tensors {
        if name == a {
            *data = data_of(b);
        } else if name == b {
            *data = data_of(a);
        } else if name == changed {
            data[0] ^= 1;
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data);
            (name.clone(), view.unwrap())
        })
        .collect();
    let altered = safetensors::serialize(views, None).unwrap();
    let altered = SafeTensors::deserialize(&altered).unwrap();
    let mut problems = differences(&pth, &altered);
    problems.sort();
    assert_eq!(
        problems,
        vec![
            format!("{changed}: other values"),
            format!("{a}: other values"),
            format!("{b}: other values"),
        ]
    );
}
