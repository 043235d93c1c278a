//! Runs Argo CD's own Rollout health check and actions (Lua, read from
//! `../shared/fixtures/argo-cd/Rollout` beside the repository; never copied into it) in an embedded
//! Lua 5.1, the dialect of Argo CD's gopher-lua, with the libraries Argo CD gives its scripts
//! (base, package, table and a safe `os`). The object goes in as the global `obj` and comes back as
//! JSON the way Argo CD converts it: JSON null is Lua nil, whole numbers stay integers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlua::serde::{DeserializeOptions, SerializeOptions};
use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib};
use serde_json::Value;

/// Where Argo CD's Rollout customizations live, relative to the repository root.
const FIXTURES: &str = "../shared/fixtures/argo-cd/Rollout";

/// Argo CD's Rollout scripts, found on disk.
pub struct ArgoCd {
    dir: PathBuf,
}

/// A health assessment as Argo CD's `health.lua` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `Healthy`, `Progressing`, `Suspended` or `Degraded`.
    pub status: String,
    /// Empty when the script gives none.
    pub message: String,
}

/// One entry of `discovery.lua`'s result.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Discovered {
    /// Whether Argo CD's UI greys the action out.
    pub disabled: bool,
    /// Label shown instead of the name.
    pub display_name: Option<String>,
}

impl ArgoCd {
    /// The scripts, or `None` (with a message) when the fixtures are missing locally. Under
    /// `CI=true` a missing fixture folder fails the test instead: CI never skips silently.
    pub fn find() -> Option<ArgoCd> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = root.join(FIXTURES);
        if dir.join("health.lua").is_file() {
            return Some(ArgoCd { dir });
        }
        let msg = format!(
            "Argo CD's Rollout scripts are missing: expected {}/health.lua ({FIXTURES} relative to the \
             repository root; see shared/fixtures/argo-cd/SOURCES.md)",
            dir.display()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}; they are required when CI=true");
        }
        eprintln!("skipping: {msg}");
        None
    }

    /// A file under the Rollout customization folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// A YAML file under the folder, as JSON.
    pub fn yaml(&self, rel: &str) -> Value {
        let p = self.path(rel);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
    }

    fn script(&self, rel: &str) -> String {
        let p = self.path(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    /// Argo CD's health of a Rollout object (`apiVersion`, `metadata`, `spec`, `status`).
    pub fn health(&self, obj: &Value) -> Health {
        let out = run(&self.script("health.lua"), "health.lua", obj);
        let field = |k: &str| out.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Health {
            status: field("status"),
            message: field("message"),
        }
    }

    /// The object Argo CD's action `name` (`actions/NAME/action.lua`) returns for `obj`.
    pub fn action(&self, name: &str, obj: &Value) -> Value {
        let rel = format!("actions/{name}/action.lua");
        run(&self.script(&rel), &rel, obj)
    }

    /// The actions Argo CD's UI offers for `obj` (`actions/discovery.lua`).
    pub fn discovery(&self, obj: &Value) -> BTreeMap<String, Discovered> {
        let out = run(&self.script("actions/discovery.lua"), "discovery.lua", obj);
        let Value::Object(m) = out else {
            panic!("discovery.lua returned {out}");
        };
        m.into_iter()
            .map(|(k, v)| {
                let d = Discovered {
                    disabled: v.get("disabled").and_then(Value::as_bool).unwrap_or(false),
                    display_name: v.get("displayName").and_then(Value::as_str).map(String::from),
                };
                (k, d)
            })
            .collect()
    }
}

/// Runs `script` with the global `obj` and returns what it returns, as JSON.
fn run(script: &str, name: &str, obj: &Value) -> Value {
    let fail = |e: mlua::Error| -> ! { panic!("{name}: {e}") };
    let lua = Lua::new_with(
        StdLib::PACKAGE | StdLib::TABLE | StdLib::OS,
        LuaOptions::default(),
    )
    .unwrap_or_else(|e| fail(e));
    // Argo CD's safe `os`: time and date functions only.
    lua.load(
        "local keep = {time = os.time, date = os.date, clock = os.clock, difftime = os.difftime}\n\
         for k in pairs(os) do os[k] = nil end\n\
         for k, f in pairs(keep) do os[k] = f end",
    )
    .exec()
    .unwrap_or_else(|e| fail(e));
    let to_lua = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    let input = lua.to_value_with(obj, to_lua).unwrap_or_else(|e| fail(e));
    lua.globals().set("obj", input).unwrap_or_else(|e| fail(e));
    let out: mlua::Value = lua.load(script).set_name(name).eval().unwrap_or_else(|e| fail(e));
    let json: Value = lua
        .from_value_with(out, DeserializeOptions::new())
        .unwrap_or_else(|e| fail(e));
    whole_numbers(json)
}

/// Lua 5.1 numbers are doubles; Argo CD (Go) prints whole ones as integers.
fn whole_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.as_i64().is_none() && f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(whole_numbers).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, whole_numbers(v))).collect()),
        other => other,
    }
}

/// `v` without null members (null and absent are the same to Lua and to a merge patch).
pub fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The JSON merge patch that turns `before` into `after` (RFC 7386; arrays are replaced whole).
pub fn merge_diff(before: &Value, after: &Value) -> Value {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut out = serde_json::Map::new();
            for (k, bv) in b {
                match a.get(k) {
                    None => {
                        out.insert(k.clone(), Value::Null);
                    }
                    Some(av) if av != bv => {
                        out.insert(k.clone(), merge_diff(bv, av));
                    }
                    Some(_) => {}
                }
            }
            for (k, av) in a {
                if !b.contains_key(k) {
                    out.insert(k.clone(), av.clone());
                }
            }
            Value::Object(out)
        }
        _ => after.clone(),
    }
}
