//! The [`Plugin`] trait a plugin implements, and the [`export_plugin!`] macro that turns it
//! into the component's exports.

use crate::types::{Event, Hook, Info, Outgoing, Rendered, Verdict};

/// A wapi plugin: its version, the hooks it implements, and those hooks.
///
/// Every method is an associated function: each call runs in a fresh instance, so there is no
/// `self` to keep state in (use [`kv`](crate::kv)). The hook methods have defaults that fail
/// with "not implemented", so a plugin writes only the hooks it lists in [`HOOKS`](Self::HOOKS);
/// the host never calls the others.
///
/// ```no_run
/// use wapi_plugin_sdk::{Hook, Outgoing, Plugin, Rendered};
///
/// /// Appends a signature to every text.
/// struct Signature;
///
/// impl Plugin for Signature {
///     const VERSION: &'static str = "0.1.0";
///     const HOOKS: &'static [Hook] = &[Hook::Template];
///
///     fn template(message: Outgoing) -> Result<Rendered, String> {
///         if message.kind != "text" {
///             return Ok(Rendered::Keep);
///         }
///         Ok(Rendered::Text(format!("{}\n-- sent by wapi", message.text)))
///     }
/// }
///
/// wapi_plugin_sdk::export_plugin!(Signature);
/// ```
pub trait Plugin {
    /// The plugin's own version (free text, semver recommended), shown by the gateway.
    const VERSION: &'static str;

    /// The hooks the host should call. Implement the matching methods.
    const HOOKS: &'static [Hook];

    /// The template hook: rewrite an outgoing message's text (or caption) before it is queued.
    ///
    /// Return [`Rendered::Keep`] to leave it as it is. An `Err` is a failure: the host counts
    /// and logs it, and the message goes on with the text it had.
    fn template(message: Outgoing) -> Result<Rendered, String> {
        let _ = message;
        Err(not_implemented("template"))
    }

    /// The filter hook: allow or refuse an outgoing message before it is queued.
    ///
    /// A refusal's reason is shown to the API client. An `Err` is a failure, which refuses the
    /// message unless the plugin's config says `on_error = "allow"`.
    fn filter(message: Outgoing) -> Result<Verdict, String> {
        let _ = message;
        Err(not_implemented("filter"))
    }

    /// The events hook: observe what happens to messages and to the session. It runs in the
    /// background and never slows sending; an `Err` is logged.
    ///
    /// Message events (queued, sent, failed, cancelled) and received messages are handed on **at
    /// least once**: the host reads them from its database, so a crash loses none, and the last
    /// second's events may be handed on again after one. A [`webhook::deliver`](crate::webhook::deliver)
    /// asked for again while handling the same event answers the same delivery (same
    /// `webhook-id`); make other side effects (key-value writes) safe to repeat. Receipts and
    /// session changes are handed on as they happen, at most once.
    fn on_event(event: Event) -> Result<(), String> {
        let _ = event;
        Err(not_implemented("events"))
    }
}

/// Why a hook the plugin did not implement failed.
fn not_implemented(hook: &str) -> String {
    format!("the `{hook}` hook is not implemented by this plugin")
}

/// What `describe` answers for plugin `P`.
pub fn describe<P: Plugin>() -> Info {
    Info {
        version: P::VERSION.to_owned(),
        hooks: P::HOOKS.to_vec(),
    }
}

/// Exports a type implementing [`Plugin`] as the component's `describe` and hook functions.
///
/// Use it once, in the plugin's crate, with the type's name. `describe` reports
/// [`Plugin::VERSION`] and [`Plugin::HOOKS`].
///
/// ```no_run
/// use wapi_plugin_sdk::{Event, Hook, Plugin, log};
///
/// struct EventLogger;
///
/// impl Plugin for EventLogger {
///     const VERSION: &'static str = "0.1.0";
///     const HOOKS: &'static [Hook] = &[Hook::Events];
///
///     fn on_event(event: Event) -> Result<(), String> {
///         log::info(&format!("{} at {}", event.name(), event.at_ms()));
///         Ok(())
///     }
/// }
///
/// wapi_plugin_sdk::export_plugin!(EventLogger);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct WapiPluginExports;

            impl $crate::__private::Guest for WapiPluginExports {
                fn describe() -> $crate::Info {
                    $crate::__private::describe::<$plugin>()
                }

                fn template(message: $crate::Outgoing) -> Result<$crate::Rendered, String> {
                    <$plugin as $crate::Plugin>::template(message)
                }

                fn filter(message: $crate::Outgoing) -> Result<$crate::Verdict, String> {
                    <$plugin as $crate::Plugin>::filter(message)
                }

                fn on_event(event: $crate::Event) -> Result<(), String> {
                    <$plugin as $crate::Plugin>::on_event(event)
                }
            }

    $crate::bindings::export!(WapiPluginExports with_types_in $crate::bindings);
        };
    };
}
