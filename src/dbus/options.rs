//! The a{sv} arguments of the manager's methods: what `StartSession`'s options and
//! `HandleHook`'s context may hold, decoded and checked before anything runs.

use std::collections::HashMap;

use zbus::OwnedVariant;

use crate::error::Error;
use crate::hooks::HookContext;
use crate::lifecycle::StartOptions;

/// Reads `StartSession`'s options, refusing unknown keys and wrong types.
pub(super) fn start_options(options: HashMap<String, OwnedVariant>) -> Result<StartOptions, Error> {
    let mut out = StartOptions::default();
    for (key, value) in options {
        match key.as_str() {
            "args" => {
                out.args = Vec::<String>::try_from(value).map_err(|_| {
                    Error::invalid("Option 'args' must be an array of strings (as).")
                })?;
            }
            "resume" => {
                out.resume = Some(
                    String::try_from(value)
                        .map_err(|_| Error::invalid("Option 'resume' must be a string (s)."))?,
                );
            }
            "memory_high" | "memory_max" | "tasks_max" => {
                let v = u64::try_from(value).map_err(|_| {
                    Error::invalid(format!("Option '{key}' must be a number of type t."))
                })?;
                let slot = match key.as_str() {
                    "memory_high" => &mut out.limits.memory_high,
                    "memory_max" => &mut out.limits.memory_max,
                    _ => &mut out.limits.tasks_max,
                };
                *slot = Some(v);
            }
            "env" => {
                let env = HashMap::<String, String>::try_from(value).map_err(|_| {
                    Error::invalid("Option 'env' must be a dictionary of strings (a{ss}).")
                })?;
                out.env = env.into_iter().collect();
            }
            "cpu_weight" => {
                out.limits.cpu_weight = Some(u32::try_from(value).map_err(|_| {
                    Error::invalid("Option 'cpu_weight' must be a number of type u.")
                })?);
            }
            other => {
                return Err(Error::invalid(format!(
                    "Unknown option '{}'; StartSession takes args, resume, env, memory_high, memory_max, cpu_weight and tasks_max.",
                    crate::lifecycle::printable(other)
                )));
            }
        }
    }
    Ok(out)
}

/// Reads `HandleHook`'s context; unknown keys are ignored so newer relays keep working.
pub(super) fn hook_context(context: HashMap<String, OwnedVariant>) -> Result<HookContext, Error> {
    let mut ctx = HookContext::default();
    for (key, value) in context {
        let bad = || Error::invalid(format!("Hook context '{key}' has the wrong type."));
        match key.as_str() {
            "tmux_pane" => ctx.tmux_pane = String::try_from(value).map_err(|_| bad())?,
            "tmux" => ctx.tmux = String::try_from(value).map_err(|_| bad())?,
            "answerer" => ctx.answerer = bool::try_from(value).map_err(|_| bad())?,
            _ => {}
        }
    }
    Ok(ctx)
}
