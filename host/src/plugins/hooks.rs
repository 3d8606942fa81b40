//! The hooks a message meets before it is queued: every `template` plugin in order (each sees
//! the text the previous one produced), then every `filter` plugin in order until one refuses.
//!
//! Failure policy: a template that fails (traps, runs out of time or memory, answers something
//! unusable) is skipped; a filter that fails refuses the message unless its config says
//! `on_error = "allow"`. Every failure is counted and logged with the plugin's name.

use std::sync::Arc;
use std::time::Instant;

use super::runtime::{AsyncCall, Failure, State, wit};
use super::{Hook, Loaded, Plugins};

/// A message on its way to the queue, as hooks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub to: String,
    pub kind: &'static str,
    pub text: String,
    pub template: Option<String>,
    pub vars: Vec<(String, String)>,
    pub key_name: String,
}

/// What the template hooks made of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateOutcome {
    /// The text to send (unchanged when no plugin rewrote it).
    Text(String),
    /// A plugin could not render it (unknown template, missing variable): tell the client.
    Refused { plugin: String, reason: String },
}

impl Outgoing {
    fn to_wit(&self) -> wit::Outgoing {
        wit::Outgoing {
            to: self.to.clone(),
            kind: self.kind.to_string(),
            text: self.text.clone(),
            template: self.template.clone(),
            vars: self.vars.clone(),
            key_name: self.key_name.clone(),
        }
    }
}

impl Plugins {
    /// Runs the template hooks; `max_text` bounds what a plugin may answer (in characters).
    pub async fn template(&self, message: &Outgoing, max_text: usize) -> TemplateOutcome {
        let registry = self.registry();
        let mut text = message.text.clone();
        for plugin in registry.with_hook(Hook::Template) {
            let input = Outgoing {
                text: text.clone(),
                ..message.clone()
            };
            let answer = self.invoke(plugin, Hook::Template, TemplateCall(input.to_wit())).await;
            let answer = answer.and_then(|a| match a {
                Ok(wit::Rendered::Text(t)) if t.chars().count() > max_text => Err(Failure::Output(format!(
                    "a text of {} characters, over limits.max_text ({max_text})",
                    t.chars().count()
                ))),
                other => Ok(other),
            });
            match answer {
                Ok(Ok(wit::Rendered::Keep)) => {}
                Ok(Ok(wit::Rendered::Text(t))) => text = t,
                Ok(Err(reason)) => {
                    return TemplateOutcome::Refused {
                        plugin: plugin.name.to_string(),
                        reason,
                    };
                }
                Err(failure) => self.failed(plugin, Hook::Template, &failure, "skipped; the text goes on unchanged"),
            }
        }
        TemplateOutcome::Text(text)
    }

    /// Runs the filter hooks; `Err` carries the refusal shown to the client.
    pub async fn filter(&self, message: &Outgoing) -> Result<(), String> {
        let registry = self.registry();
        let input = message.to_wit();
        for plugin in registry.with_hook(Hook::Filter) {
            let outcome = match self.invoke(plugin, Hook::Filter, FilterCall(input.clone())).await {
                Ok(Ok(verdict)) => Ok(verdict),
                Ok(Err(reason)) => Err(Failure::Output(format!("an error: {reason}"))),
                Err(failure) => Err(failure),
            };
            match outcome {
                Ok(wit::Verdict::Allow) => {}
                Ok(wit::Verdict::Refuse(reason)) => {
                    tracing::info!(
                        plugin = &*plugin.name,
                        to = message.to,
                        reason,
                        "message refused by a filter"
                    );
                    return Err(format!("{} (plugin {})", reason, plugin.name));
                }
                Err(failure) if plugin.on_error_allow => {
                    self.failed(plugin, Hook::Filter, &failure, "allowed (on_error = \"allow\")")
                }
                Err(failure) => {
                    self.failed(plugin, Hook::Filter, &failure, "refused (filters fail closed)");
                    return Err(format!(
                        "the filter plugin {} failed ({failure}), and filters fail closed",
                        plugin.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// One call, timed and counted.
    pub(super) async fn invoke<T>(
        &self,
        plugin: &Arc<Loaded>,
        hook: Hook,
        call: impl AsyncCall<T>,
    ) -> Result<T, Failure> {
        let start = Instant::now();
        let result = self
            .runtime()
            .call(&plugin.name, &plugin.config, &plugin.pre, plugin.budget, call)
            .await;
        plugin.stats.record(hook, start.elapsed(), result.is_err());
        result
    }

    /// Logs a failed call; an unusable answer (the call itself succeeded) is counted here.
    pub(super) fn failed(&self, plugin: &Loaded, hook: Hook, failure: &Failure, then: &str) {
        if matches!(failure, Failure::Output(_)) {
            plugin.stats.unusable(hook);
        }
        tracing::warn!(plugin = &*plugin.name, version = plugin.version, hook = hook.as_str(), %failure, "plugin call failed; {then}");
    }
}

struct TemplateCall(wit::Outgoing);

impl AsyncCall<Result<wit::Rendered, String>> for TemplateCall {
    async fn run(
        self,
        instance: &super::bindings::Plugin,
        store: &mut wasmtime::Store<State>,
    ) -> wasmtime::Result<Result<wit::Rendered, String>> {
        instance.call_template(store, &self.0).await
    }
}

struct FilterCall(wit::Outgoing);

impl AsyncCall<Result<wit::Verdict, String>> for FilterCall {
    async fn run(
        self,
        instance: &super::bindings::Plugin,
        store: &mut wasmtime::Store<State>,
    ) -> wasmtime::Result<Result<wit::Verdict, String>> {
        instance.call_filter(store, &self.0).await
    }
}
