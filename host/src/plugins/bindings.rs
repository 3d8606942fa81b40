//! Host-side bindings generated from `plugin-sdk/wit` (the one definition of the interface).
//! Imports are async (key-value writes and webhook requests wait on the database) and may trap
//! (a plugin abusing an import is stopped, not answered).

wasmtime::component::bindgen!({
    path: "../plugin-sdk/wit",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

/// The interface version this host speaks: `wapi:plugin@MAJOR.MINOR.PATCH`.
pub const INTERFACE_VERSION: &str = "0.1.0";
