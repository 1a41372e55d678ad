//! WireGuard configuration texts: the typed model [`WgConfig`] and the two dialects it is read from and
//! written to.
//!
//! * **wg-quick** ([`parse_wg_quick`], [`render_wg_quick`]): the `/etc/wireguard/<if>.conf` files
//!   `wg-quick up` reads — `wg`'s own keys plus `Address`, `DNS`, `MTU`, `Table`, the four hooks and
//!   `SaveConfig`.
//! * **setconf** ([`parse_setconf`], [`render_setconf`]): what `wg setconf` / `wg syncconf` accept —
//!   only the keys `wg` itself understands, the same text `wg-quick strip` prints.
//!
//! The accepted grammar, the renderers' guarantees and the handling of secrets are documented on
//! [`WgConfig`], the public face of this module.

mod json;
mod parse;
mod render;
pub(crate) use render::{render_interface, render_peer, PeerView};

#[cfg(test)]
mod tests;

use ipnet::IpNet;

use crate::error::ConfigError;
use crate::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::mesh::endpoint::Endpoint;

/// One WireGuard interface configuration, as in a wg-quick file: the `[Interface]` section and every
/// `[Peer]`, in file order.
///
/// Read with [`parse_wg_quick`] / [`parse_setconf`], written with [`render_wg_quick`] /
/// [`render_setconf`]; as a JSON value (the shared vectors' shape, what the bindings' dicts are) with
/// [`WgConfig::to_json_value`] / [`WgConfig::from_json_value`].
///
/// # Reading: what the parsers accept
///
/// The parsers follow wireguard-tools (`src/config.c` for `wg`, `src/wg-quick/*.bash` for wg-quick):
/// section names and keys are case-insensitive, `#` starts a comment anywhere on a line (everything
/// after it is ignored, as both tools do), whitespace around `=` and around values is ignored, blank
/// lines, CRLF line endings and a leading UTF-8 byte-order mark are accepted. Repeated list keys
/// accumulate (`Address`, `DNS`, `AllowedIPs`, the hooks); repeated scalar keys overwrite (the last one
/// wins, as in `wg`). `Address` and `DNS` split on commas and whitespace like wg-quick's word splitting;
/// `AllowedIPs` ignores whitespace and splits on commas like `wg`. `off` and `0` turn `FwMark` and
/// `PersistentKeepalive` off (`None`); an empty `MTU` or `Table` resets it to `None`, as wg-quick treats
/// an empty value as unset.
///
/// A `[Peer]` may carry a name: the full-line comment directly above its header (`# laptop`; with
/// several comment lines, the last one), read without its leading `#` signs and surrounding spaces. A
/// comment whose text is empty or not safe ([`crate::is_safe_value`], e.g. a commented-out `#[Peer]`)
/// names nothing.
///
/// Free-text values (hooks, `DNS` entries, `Table`) are taken as wg-quick takes them; the renderers,
/// which are stricter, may then refuse a parsed model (e.g. a hook containing `[`).
///
/// Deliberate differences from the tools, each stricter: `ListenPort` must be a number (wg also looks up
/// service names), keys may not contain inner whitespace (`wg` deletes all whitespace from a line before
/// matching), incremental `AllowedIPs` entries (`+10.0.0.0/8`, `-…`) are refused because a whole config
/// cannot express them, and hooks lose a trailing `# comment` (recent wg-quick versions keep the `#`
/// text inside hook values; wiremesh never writes `#` inside a value, see [`crate::is_safe_value`]).
///
/// # Writing: what the renderers guarantee
///
/// Output is canonical: `[Interface]` first, then each peer after a blank line, keys in canonical
/// spelling and a fixed order, `\n` line endings and a final newline. Every free-text value (peer names,
/// DNS entries, `Table`, hooks) is checked with [`crate::is_safe_value`] and refused with
/// [`ConfigError::UnsafeValue`], so a model built by hand cannot inject a line or a section. For every
/// model the renderer accepts, parsing the output gives the model back:
/// `parse_wg_quick(&render_wg_quick(&x)?, _)? == x`.
///
/// # Secrets
///
/// Errors never contain the value of `PrivateKey` or `PresharedKey` (nor text that could be one: lines
/// that fail to parse are never echoed), and the model's `Debug` output redacts both.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WgConfig {
    /// The `[Interface]` section (all-default when the text has none, which `wg` allows).
    pub interface: InterfaceSection,
    /// The `[Peer]` sections in the order they appear.
    pub peers: Vec<PeerSection>,
}

/// The `[Interface]` section: `wg`'s device settings plus wg-quick's additions.
///
/// `FwMark` 0 means "off" to `wg`, so a parsed model never holds `fwmark: Some(0)`; the renderers
/// refuse it with [`ConfigError::InvalidValue`] rather than write a line that would parse back as
/// `None`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InterfaceSection {
    /// `PrivateKey`: the interface's secret key (never shown by `Debug`).
    pub private_key: Option<PrivateKey>,
    /// `ListenPort`: the UDP port to listen on (absent: chosen randomly by the kernel).
    pub listen_port: Option<u16>,
    /// `FwMark`: the firewall mark for outgoing packets; `off` and `0` parse to `None`. Accepts decimal
    /// and `0x` hexadecimal like `wg`; rendered in hexadecimal like `wg showconf`.
    pub fwmark: Option<u32>,
    /// `Address` (wg-quick): the interface's addresses with prefix length; a bare address parses as
    /// `/32` or `/128`, as wg-quick and `ip address add` treat it.
    pub addresses: Vec<IpNet>,
    /// `DNS` (wg-quick): name servers (IP addresses) and search domains, in order.
    pub dns: Vec<String>,
    /// `MTU` (wg-quick): the interface MTU (absent: wg-quick computes one).
    pub mtu: Option<u32>,
    /// `Table` (wg-quick): `off`, `auto`, a routing table number or a name from `rt_tables`.
    pub table: Option<String>,
    /// `PreUp` (wg-quick): shell snippets run before the interface is created, one per line.
    pub pre_up: Vec<String>,
    /// `PostUp` (wg-quick): shell snippets run after the interface is up.
    pub post_up: Vec<String>,
    /// `PreDown` (wg-quick): shell snippets run before the interface is removed.
    pub pre_down: Vec<String>,
    /// `PostDown` (wg-quick): shell snippets run after the interface is removed.
    pub post_down: Vec<String>,
    /// `SaveConfig` (wg-quick): whether `wg-quick down` writes the live state back to the file.
    pub save_config: Option<bool>,
}

/// One `[Peer]` section.
///
/// `PersistentKeepalive` 0 means "off" to `wg`, so a parsed model never holds
/// `persistent_keepalive: Some(0)`; the renderers refuse it with [`ConfigError::InvalidValue`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSection {
    /// A human-readable name, written as a `# <name>` comment line directly above `[Peer]` and read back
    /// from the comment line directly above it. Must be safe text ([`crate::is_safe_value`]) without
    /// leading or trailing spaces.
    pub name: Option<String>,
    /// `PublicKey`: the peer's public key (required).
    pub public_key: PublicKey,
    /// `PresharedKey`: the optional symmetric key of this pair (never shown by `Debug`).
    pub preshared_key: Option<PresharedKey>,
    /// `AllowedIPs`: the prefixes routed to and accepted from this peer, kept exactly as written (a bare
    /// address parses as `/32` or `/128`; host bits are kept, `wg` masks them itself).
    pub allowed_ips: Vec<IpNet>,
    /// `Endpoint`: where the peer can be reached, if known.
    pub endpoint: Option<Endpoint>,
    /// `PersistentKeepalive`: seconds between keepalives; `off` and `0` parse to `None`.
    pub persistent_keepalive: Option<u16>,
}

impl PeerSection {
    /// A peer with only its public key set; fill the other fields as needed.
    pub fn new(public_key: PublicKey) -> Self {
        PeerSection {
            name: None,
            public_key,
            preshared_key: None,
            allowed_ips: Vec::new(),
            endpoint: None,
            persistent_keepalive: None,
        }
    }
}

impl WgConfig {
    /// A copy without the wg-quick-only settings (`Address`, `DNS`, `MTU`, `Table`, hooks,
    /// `SaveConfig`): the part `wg setconf` applies, as `wg-quick strip` prints it. Peer names are kept
    /// (they are comments, which `wg` ignores).
    pub fn stripped(&self) -> WgConfig {
        WgConfig {
            interface: InterfaceSection {
                private_key: self.interface.private_key.clone(),
                listen_port: self.interface.listen_port,
                fwmark: self.interface.fwmark,
                ..InterfaceSection::default()
            },
            peers: self.peers.clone(),
        }
    }
}

/// Parses a wg-quick configuration (what `wg-quick up` accepts; see [`WgConfig`] for the exact
/// grammar). `source_name` labels error locations, e.g. the file name or `<string>`.
///
/// Errors: [`ConfigError::Syntax`] for a line that is neither a header, `Key = Value`, a comment nor
/// blank (including keys before any section), [`ConfigError::UnknownSection`],
/// [`ConfigError::UnknownKey`] (also for a key in the wrong section), [`ConfigError::InvalidValue`],
/// and [`ConfigError::MissingKey`] for a `[Peer]` without `PublicKey`. Each carries the line, section and
/// key, and never a private or preshared key.
pub fn parse_wg_quick(text: &str, source_name: &str) -> Result<WgConfig, ConfigError> {
    parse::parse(text, source_name, Dialect::WgQuick)
}

/// Parses the `wg setconf` / `wg syncconf` dialect: like [`parse_wg_quick`], but the wg-quick-only keys
/// (`Address`, `DNS`, `MTU`, `Table`, hooks, `SaveConfig`) are refused with
/// [`ConfigError::UnknownKey`], as `wg setconf` refuses them.
pub fn parse_setconf(text: &str, source_name: &str) -> Result<WgConfig, ConfigError> {
    parse::parse(text, source_name, Dialect::SetConf)
}

/// Renders `config` as a wg-quick file: `[Interface]`, then each peer after a blank line (with a
/// `# name` comment above `[Peer]` when the peer has a name), canonical key spelling, lists joined with
/// `, `, one line per hook, `\n` line endings and a final newline.
///
/// Errors: [`ConfigError::UnsafeValue`] for a name, DNS entry, table or hook that fails
/// [`crate::is_safe_value`]; [`ConfigError::InvalidValue`] for values that would not read back as the
/// same model (`fwmark` or `persistent_keepalive` of `Some(0)`, an empty or space-padded name, table or
/// hook, a DNS entry that is empty or holds a comma or space, an endpoint that does not re-parse to
/// itself). Locations name `interface` or `peers[i]`, the section and the key.
pub fn render_wg_quick(config: &WgConfig) -> Result<String, ConfigError> {
    render::render(config, Dialect::WgQuick)
}

/// Renders `config` in the `wg setconf` / `wg syncconf` dialect: like [`render_wg_quick`] but the
/// wg-quick-only settings are dropped, as `wg-quick strip` drops them. The output can be fed to
/// `wg setconf <if> <file>` or `wg syncconf`.
pub fn render_setconf(config: &WgConfig) -> Result<String, ConfigError> {
    render::render(config, Dialect::SetConf)
}

/// Which tool's language a text is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// wg-quick: every [`Setting`].
    WgQuick,
    /// `wg setconf`: only the keys `wg` understands.
    SetConf,
}

/// The two sections a configuration has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Interface,
    Peer,
}

impl Section {
    /// The canonical spelling, as in the header and in error locations.
    fn name(self) -> &'static str {
        match self {
            Section::Interface => "Interface",
            Section::Peer => "Peer",
        }
    }
}

/// Every key either dialect knows; one table drives the parser's lookup and the renderer's spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setting {
    PrivateKey,
    ListenPort,
    FwMark,
    Address,
    Dns,
    Mtu,
    Table,
    PreUp,
    PostUp,
    PreDown,
    PostDown,
    SaveConfig,
    PublicKey,
    PresharedKey,
    AllowedIps,
    Endpoint,
    PersistentKeepalive,
}

impl Setting {
    /// All keys, in rendering order within each section.
    const ALL: [Setting; 17] = [
        Setting::PrivateKey,
        Setting::ListenPort,
        Setting::FwMark,
        Setting::Address,
        Setting::Dns,
        Setting::Mtu,
        Setting::Table,
        Setting::PreUp,
        Setting::PostUp,
        Setting::PreDown,
        Setting::PostDown,
        Setting::SaveConfig,
        Setting::PublicKey,
        Setting::PresharedKey,
        Setting::AllowedIps,
        Setting::Endpoint,
        Setting::PersistentKeepalive,
    ];

    /// The canonical spelling (as the wireguard-tools man pages write it).
    fn name(self) -> &'static str {
        match self {
            Setting::PrivateKey => "PrivateKey",
            Setting::ListenPort => "ListenPort",
            Setting::FwMark => "FwMark",
            Setting::Address => "Address",
            Setting::Dns => "DNS",
            Setting::Mtu => "MTU",
            Setting::Table => "Table",
            Setting::PreUp => "PreUp",
            Setting::PostUp => "PostUp",
            Setting::PreDown => "PreDown",
            Setting::PostDown => "PostDown",
            Setting::SaveConfig => "SaveConfig",
            Setting::PublicKey => "PublicKey",
            Setting::PresharedKey => "PresharedKey",
            Setting::AllowedIps => "AllowedIPs",
            Setting::Endpoint => "Endpoint",
            Setting::PersistentKeepalive => "PersistentKeepalive",
        }
    }

    /// The section the key belongs in.
    fn section(self) -> Section {
        match self {
            Setting::PublicKey
            | Setting::PresharedKey
            | Setting::AllowedIps
            | Setting::Endpoint
            | Setting::PersistentKeepalive => Section::Peer,
            _ => Section::Interface,
        }
    }

    /// Whether only wg-quick (not `wg setconf`) understands the key.
    fn wg_quick_only(self) -> bool {
        matches!(
            self,
            Setting::Address
                | Setting::Dns
                | Setting::Mtu
                | Setting::Table
                | Setting::PreUp
                | Setting::PostUp
                | Setting::PreDown
                | Setting::PostDown
                | Setting::SaveConfig
        )
    }

    /// Looks a key up by name, ignoring ASCII case as `wg` (strncasecmp) and wg-quick (nocasematch) do.
    fn lookup(name: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|key| key.name().eq_ignore_ascii_case(name))
    }
}

/// The whitespace `wg` and wg-quick trim: C's `isspace` in the C locale.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Trims [`is_space`] characters from both ends.
fn trim_space(text: &str) -> &str {
    text.trim_matches(is_space)
}
