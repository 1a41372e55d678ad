//! The line parser shared by both dialects (the grammar is documented on [`WgConfig`]).

use std::net::IpAddr;

use ipnet::IpNet;

use super::{is_space, trim_space, Dialect, PeerSection, Section, Setting, WgConfig};
use crate::error::{ConfigError, KeyError, MeshError, TextLocation};
use crate::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::mesh::endpoint::Endpoint;
use crate::mesh::name::is_safe_value;

/// The longest key name the parser will repeat in an error location. Real keys are at most 19
/// characters; anything longer is more likely a value pasted without `=` (possibly a secret).
const MAX_KEY_LABEL: usize = 32;

/// The longest excerpt of a bad (non-secret) value shown in an error.
const MAX_EXCERPT: usize = 64;

/// Parses `text` in `dialect`; errors are labelled with `source_name`.
pub(super) fn parse(text: &str, source_name: &str, dialect: Dialect) -> Result<WgConfig, ConfigError> {
    let mut parser = Parser {
        source_name,
        dialect,
        config: WgConfig::default(),
        section: None,
        peer: None,
        pending_name: None,
        line: 0,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.split('\n').enumerate() {
        parser.line = index + 1;
        parser.line(raw.strip_suffix('\r').unwrap_or(raw))?;
    }
    parser.finish_peer()?;
    Ok(parser.config)
}

/// A `[Peer]` being read: like [`PeerSection`] but the public key may still be missing.
struct PeerDraft {
    /// The line of the `[Peer]` header, for [`ConfigError::MissingKey`].
    header_line: usize,
    name: Option<String>,
    public_key: Option<PublicKey>,
    preshared_key: Option<PresharedKey>,
    allowed_ips: Vec<IpNet>,
    endpoint: Option<Endpoint>,
    persistent_keepalive: Option<u16>,
}

struct Parser<'a> {
    source_name: &'a str,
    dialect: Dialect,
    config: WgConfig,
    /// The section the current line is in (`None` before the first header).
    section: Option<Section>,
    /// The peer being read when `section` is `Peer`.
    peer: Option<PeerDraft>,
    /// The name carried by the comment line just read, for a `[Peer]` header on the next line.
    pending_name: Option<String>,
    /// The 1-based number of the current line.
    line: usize,
}

impl Parser<'_> {
    /// A location on the current line in the current section.
    fn at(&self, key: Option<&str>) -> TextLocation {
        TextLocation {
            source_name: self.source_name.to_string(),
            line: self.line,
            section: self.section.map(|s| s.name().to_string()),
            key: key.map(str::to_string),
        }
    }

    fn syntax(&self, key: Option<&str>, reason: &str) -> ConfigError {
        ConfigError::Syntax { at: self.at(key), reason: reason.to_string() }
    }

    fn invalid(&self, key: Setting, reason: String) -> ConfigError {
        ConfigError::InvalidValue { at: self.at(Some(key.name())), reason }
    }

    /// Handles one line (without its line terminator).
    fn line(&mut self, line: &str) -> Result<(), ConfigError> {
        // wg and wg-quick both cut the line at the first '#'.
        let (content, comment) = match line.find('#') {
            Some(at) => (&line[..at], Some(&line[at..])),
            None => (line, None),
        };
        let content = trim_space(content);
        if content.is_empty() {
            // Blank or full-line comment: only a comment directly above `[Peer]` names the peer.
            self.pending_name = comment.and_then(name_from_comment);
            return Ok(());
        }
        let pending_name = self.pending_name.take();
        if content.starts_with('[') {
            return self.header(content, pending_name);
        }
        self.key_value(content)
    }

    /// Handles a `[Section]` header.
    fn header(&mut self, content: &str, name: Option<String>) -> Result<(), ConfigError> {
        let Some(inner) = content.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) else {
            let mut at = self.at(None);
            at.section = None;
            return Err(ConfigError::Syntax {
                at,
                reason: "a section header is `[Interface]` or `[Peer]` alone on its line".to_string(),
            });
        };
        let inner = trim_space(inner);
        let section = if inner.eq_ignore_ascii_case("Interface") {
            Section::Interface
        } else if inner.eq_ignore_ascii_case("Peer") {
            Section::Peer
        } else {
            // Name the section only when it looks like one: `[<base64 key>]` must not echo the key.
            return Err(ConfigError::UnknownSection {
                at: TextLocation {
                    source_name: self.source_name.to_string(),
                    line: self.line,
                    section: is_plausible_key(inner).then(|| inner.to_string()),
                    key: None,
                },
            });
        };
        self.finish_peer()?;
        self.section = Some(section);
        if section == Section::Peer {
            self.peer = Some(PeerDraft {
                header_line: self.line,
                name,
                public_key: None,
                preshared_key: None,
                allowed_ips: Vec::new(),
                endpoint: None,
                persistent_keepalive: None,
            });
        }
        Ok(())
    }

    /// Moves the peer being read (if any) into the config, checking it has a public key.
    fn finish_peer(&mut self) -> Result<(), ConfigError> {
        let Some(draft) = self.peer.take() else {
            return Ok(());
        };
        let Some(public_key) = draft.public_key else {
            return Err(ConfigError::MissingKey {
                at: TextLocation {
                    source_name: self.source_name.to_string(),
                    line: draft.header_line,
                    section: Some(Section::Peer.name().to_string()),
                    key: None,
                },
                key: Setting::PublicKey.name(),
            });
        };
        self.config.peers.push(PeerSection {
            name: draft.name,
            public_key,
            preshared_key: draft.preshared_key,
            allowed_ips: draft.allowed_ips,
            endpoint: draft.endpoint,
            persistent_keepalive: draft.persistent_keepalive,
        });
        Ok(())
    }

    /// Handles a `Key = Value` line (comment already removed, trimmed, not empty).
    fn key_value(&mut self, content: &str) -> Result<(), ConfigError> {
        let Some((raw_key, value)) = content.split_once('=') else {
            return Err(self.syntax(None, "expected `Key = Value`, a section header or a comment"));
        };
        let raw_key = trim_space(raw_key);
        let value = trim_space(value);
        let key = Setting::lookup(raw_key);
        let label = match key {
            Some(key) => key.name().to_string(),
            None if is_plausible_key(raw_key) => raw_key.to_string(),
            None => return Err(self.syntax(None, "expected `Key = Value` with a key made of letters and digits")),
        };
        let Some(section) = self.section else {
            return Err(self.syntax(Some(&label), "`Key = Value` before any section; start with [Interface] or [Peer]"));
        };
        let key = match key {
            Some(key) if key.section() == section && !(self.dialect == Dialect::SetConf && key.wg_quick_only()) => key,
            _ => return Err(ConfigError::UnknownKey { at: self.at(Some(&label)) }),
        };
        match section {
            Section::Interface => self.interface_value(key, value),
            Section::Peer => self.peer_value(key, value),
        }
    }

    fn interface_value(&mut self, key: Setting, value: &str) -> Result<(), ConfigError> {
        match key {
            Setting::PrivateKey => {
                let parsed = PrivateKey::from_base64(value).map_err(|err| self.key_error(key, &err))?;
                self.config.interface.private_key = Some(parsed);
            }
            Setting::ListenPort => {
                let port = parse_decimal(value).and_then(|n| u16::try_from(n).ok()).ok_or_else(|| {
                    self.invalid(key, format!("expected a port from 0 to 65535, got {:?}", excerpt(value)))
                })?;
                self.config.interface.listen_port = Some(port);
            }
            Setting::FwMark => {
                let mark = parse_fwmark(value).ok_or_else(|| {
                    self.invalid(key, format!("expected off or a mark from 0 to 0xffffffff, got {:?}", excerpt(value)))
                })?;
                self.config.interface.fwmark = mark;
            }
            Setting::Address => {
                for entry in value.split(|c: char| c == ',' || is_space(c)).filter(|e| !e.is_empty()) {
                    let net = parse_prefix(entry).map_err(|reason| self.invalid(key, reason))?;
                    self.config.interface.addresses.push(net);
                }
            }
            Setting::Dns => {
                let entries = value.split(|c: char| c == ',' || is_space(c)).filter(|e| !e.is_empty());
                self.config.interface.dns.extend(entries.map(str::to_string));
            }
            Setting::Mtu => {
                self.config.interface.mtu = if value.is_empty() {
                    None
                } else {
                    let mtu = parse_decimal(value).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                        self.invalid(key, format!("expected a number of bytes, got {:?}", excerpt(value)))
                    })?;
                    Some(mtu)
                };
            }
            Setting::Table => {
                self.config.interface.table = if value.is_empty() { None } else { Some(value.to_string()) };
            }
            Setting::PreUp => self.config.interface.pre_up.push(value.to_string()),
            Setting::PostUp => self.config.interface.post_up.push(value.to_string()),
            Setting::PreDown => self.config.interface.pre_down.push(value.to_string()),
            Setting::PostDown => self.config.interface.post_down.push(value.to_string()),
            Setting::SaveConfig => {
                let flag = if value.eq_ignore_ascii_case("true") {
                    true
                } else if value.eq_ignore_ascii_case("false") {
                    false
                } else {
                    return Err(self.invalid(key, format!("expected true or false, got {:?}", excerpt(value))));
                };
                self.config.interface.save_config = Some(flag);
            }
            Setting::PublicKey
            | Setting::PresharedKey
            | Setting::AllowedIps
            | Setting::Endpoint
            | Setting::PersistentKeepalive => {
                return Err(ConfigError::UnknownKey { at: self.at(Some(key.name())) });
            }
        }
        Ok(())
    }

    fn peer_value(&mut self, key: Setting, value: &str) -> Result<(), ConfigError> {
        // Parse first (errors need `self` for their location), then store into the draft.
        match key {
            Setting::PublicKey => {
                let parsed = PublicKey::from_base64(value).map_err(|err| self.key_error(key, &err))?;
                self.draft().public_key = Some(parsed);
            }
            Setting::PresharedKey => {
                let parsed = PresharedKey::from_base64(value).map_err(|err| self.key_error(key, &err))?;
                self.draft().preshared_key = Some(parsed);
            }
            Setting::AllowedIps => {
                // wg deletes every whitespace character from the line, then splits on commas; an empty
                // value is allowed and adds nothing.
                let compact: String = value.chars().filter(|&c| !is_space(c)).collect();
                if !compact.is_empty() {
                    let mut nets = Vec::new();
                    for entry in compact.split(',') {
                        if entry.starts_with('+') || entry.starts_with('-') {
                            return Err(self.invalid(
                                key,
                                format!("incremental entry {:?}: '+' and '-' are only for `wg set`", excerpt(entry)),
                            ));
                        }
                        nets.push(parse_prefix(entry).map_err(|reason| self.invalid(key, reason))?);
                    }
                    self.draft().allowed_ips.extend(nets);
                }
            }
            Setting::Endpoint => {
                let endpoint = Endpoint::parse(value, key.name()).map_err(|err| self.endpoint_error(key, err))?;
                self.draft().endpoint = Some(endpoint);
            }
            Setting::PersistentKeepalive => {
                let interval = if value.eq_ignore_ascii_case("off") {
                    None
                } else {
                    let seconds = parse_decimal(value).and_then(|n| u16::try_from(n).ok()).ok_or_else(|| {
                        self.invalid(key, format!("expected off or seconds from 0 to 65535, got {:?}", excerpt(value)))
                    })?;
                    (seconds != 0).then_some(seconds)
                };
                self.draft().persistent_keepalive = interval;
            }
            _ => return Err(ConfigError::UnknownKey { at: self.at(Some(key.name())) }),
        }
        Ok(())
    }

    /// The peer being read. Only called while in a `[Peer]` section, where [`Self::header`] always
    /// creates a draft.
    fn draft(&mut self) -> &mut PeerDraft {
        let line = self.line;
        self.peer.get_or_insert_with(|| PeerDraft {
            header_line: line,
            name: None,
            public_key: None,
            preshared_key: None,
            allowed_ips: Vec::new(),
            endpoint: None,
            persistent_keepalive: None,
        })
    }

    /// An invalid key value, described by the [`KeyError`] alone: it never carries the input, which
    /// may be a secret.
    fn key_error(&self, key: Setting, err: &KeyError) -> ConfigError {
        self.invalid(key, err.to_string())
    }

    /// An invalid endpoint, with the reason [`Endpoint::parse`] gave.
    fn endpoint_error(&self, key: Setting, err: MeshError) -> ConfigError {
        let reason = match err {
            MeshError::InvalidEndpoint { value, reason, .. } => {
                format!("invalid endpoint {:?}: {reason}", excerpt(&value))
            }
            other => other.to_string(),
        };
        self.invalid(key, reason)
    }
}

/// The peer name a full-line comment carries: its text after the `#` signs, trimmed; `None` when that
/// is empty or not safe text (e.g. a commented-out `#[Peer]`), since such a comment is no name.
fn name_from_comment(comment: &str) -> Option<String> {
    let text = trim_space(comment.trim_start_matches('#'));
    (!text.is_empty() && is_safe_value(text)).then(|| text.to_string())
}

/// Whether an unknown key (or section) name is worth repeating in an error: a short word of ASCII
/// letters, digits, `_` and `-` that does not start like a secret key's name. Anything else (e.g.
/// `PrivateKey` glued to its value, or a pasted key) is reported without echoing it.
fn is_plausible_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    !key.is_empty()
        && key.len() <= MAX_KEY_LABEL
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !lower.starts_with("privatekey")
        && !lower.starts_with("presharedkey")
}

/// A non-empty string of ASCII digits as a number (leading zeros allowed, as `strtoul` allows them).
fn parse_decimal(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// `wg`'s fwmark syntax: `off` (any case), a decimal number, or `0x` followed by hex digits; 0 is off.
/// `Some(None)` is "off", `None` a malformed value.
fn parse_fwmark(value: &str) -> Option<Option<u32>> {
    if value.eq_ignore_ascii_case("off") {
        return Some(None);
    }
    let mark = match value.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() => {
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(hex, 16).ok()?
        }
        _ => u32::try_from(parse_decimal(value)?).ok()?,
    };
    Some((mark != 0).then_some(mark))
}

/// An address with optional prefix length (`10.0.0.1`, `10.0.0.0/24`, `2001:db8::/32`); a bare
/// address gets the full-length prefix. Host bits are kept. The error is a reason with an excerpt.
pub(super) fn parse_prefix(entry: &str) -> Result<IpNet, String> {
    let (addr, len) = match entry.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (entry, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| format!("{:?} is not an IP address", excerpt(entry)))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(len) => match parse_decimal(len) {
            Some(n) if n <= u64::from(max) => n as u8,
            _ => return Err(format!("{:?}: the prefix length must be a number from 0 to {max}", excerpt(entry))),
        },
    };
    IpNet::new(ip, len).map_err(|_| format!("{:?}: invalid prefix length", excerpt(entry)))
}

/// A short, printable excerpt of a non-secret value for error messages.
pub(super) fn excerpt(value: &str) -> String {
    let mut shown: String = value.chars().filter(|c| !c.is_control()).take(MAX_EXCERPT).collect();
    if value.chars().count() > MAX_EXCERPT {
        shown.push('…');
    }
    shown
}
