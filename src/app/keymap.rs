//! Key bindings as data: tables mapping keys to intents with a description.
//! Intents are split in two types: [`Nav`] changes only what hearth shows,
//! [`Op`] leads to an operation that changes the cluster or GitHub. The
//! read-only keymap is a table of `Nav` alone, so no key of a read-only
//! session can even name an operation. `update` looks keys up here and the
//! `?` help overlay is generated from the same tables, so the two cannot
//! drift. Runs on the main task.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::Access;

/// A user's intent, decoded from a key by the session's keymap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Nav(Nav),
    Op(Op),
}

/// An intent that changes only what hearth shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    /// Move focus between the overview and the detail pane.
    ToggleFocus,
    /// Start editing the service filter.
    Filter,
    /// Close what is open: help, filter, detail focus.
    Back,
    Help,
    Quit,
    /// Tail the selected service's logs (reads only).
    Logs,
}

/// An intent that leads to an operation (through a dialog that says what
/// will happen). Only read-write sessions have keys for these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Ship the selected service to prod.
    Ship,
    /// Ship the selected service to qa (a release candidate).
    ShipQa,
    /// Promote one of its qa prereleases to prod.
    Promote,
    /// Roll an environment back (fast or clean).
    Rollback,
    /// Ship every service of the `ship_all` list.
    ShipAll,
    /// Approve the run of the selected service that waits for a reviewer.
    Approve,
    /// Restart every pod of one environment (a rollout restart).
    Restart,
}

/// One key: a code and the modifiers that must be held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    const fn plain(code: KeyCode) -> Key {
        Key {
            code,
            modifiers: KeyModifiers::NONE,
        }
    }

    const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            modifiers: KeyModifiers::CONTROL,
        }
    }

    /// Whether a terminal key event is this key. Shift is ignored for
    /// characters because terminals report `?` or `G` with or without it.
    pub fn matches(&self, event: &KeyEvent) -> bool {
        let mut mods = event.modifiers;
        if matches!(event.code, KeyCode::Char(_)) {
            mods.remove(KeyModifiers::SHIFT);
        }
        event.code == self.code && mods == self.modifiers
    }

    /// How the help overlay spells the key (`Ctrl-c`, `Enter`, `↑`, `j`).
    pub fn label(&self) -> String {
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            other => format!("{other:?}"),
        };
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{name}")
        } else {
            name
        }
    }
}

/// One binding: an intent, the keys that trigger it and what it does.
#[derive(Clone, Copy, Debug)]
pub struct Binding<A> {
    pub action: A,
    pub keys: &'static [Key],
    pub description: &'static str,
}

/// Navigation and view bindings every session has. None of them changes
/// anything outside hearth, so the read-only watch mode can share them.
pub const NAVIGATION: &[Binding<Nav>] = &[
    Binding {
        action: Nav::Up,
        keys: &[Key::plain(KeyCode::Up), Key::plain(KeyCode::Char('k'))],
        description: "select previous service / scroll detail up",
    },
    Binding {
        action: Nav::Down,
        keys: &[Key::plain(KeyCode::Down), Key::plain(KeyCode::Char('j'))],
        description: "select next service / scroll detail down",
    },
    Binding {
        action: Nav::PageUp,
        keys: &[Key::plain(KeyCode::PageUp)],
        description: "page up",
    },
    Binding {
        action: Nav::PageDown,
        keys: &[Key::plain(KeyCode::PageDown)],
        description: "page down",
    },
    Binding {
        action: Nav::First,
        keys: &[Key::plain(KeyCode::Home), Key::plain(KeyCode::Char('g'))],
        description: "first service",
    },
    Binding {
        action: Nav::Last,
        keys: &[Key::plain(KeyCode::End), Key::plain(KeyCode::Char('G'))],
        description: "last service",
    },
    Binding {
        action: Nav::ToggleFocus,
        keys: &[Key::plain(KeyCode::Enter), Key::plain(KeyCode::Tab)],
        description: "focus the detail pane / back to the overview",
    },
    Binding {
        action: Nav::Filter,
        keys: &[Key::plain(KeyCode::Char('/'))],
        description: "filter services by name",
    },
    Binding {
        action: Nav::Back,
        keys: &[Key::plain(KeyCode::Esc)],
        description: "close help / clear filter / back to the overview",
    },
    Binding {
        action: Nav::Logs,
        keys: &[Key::plain(KeyCode::Char('l'))],
        description: "tail the logs of every pod (Esc closes, Space pauses, / searches)",
    },
    Binding {
        action: Nav::Help,
        keys: &[Key::plain(KeyCode::Char('?'))],
        description: "show or hide this help",
    },
    Binding {
        action: Nav::Quit,
        keys: &[Key::plain(KeyCode::Char('q')), Key::ctrl('c')],
        description: "quit",
    },
];

/// The operation bindings of a read-write session. Each opens a dialog
/// (or, for a change to prod, a confirmation) before anything changes.
pub const OPERATIONS: &[Binding<Op>] = &[
    Binding {
        action: Op::ShipQa,
        keys: &[Key::plain(KeyCode::Char('s'))],
        description: "ship to qa: tests, next -rc tag, prerelease; CI deploys to qa",
    },
    Binding {
        action: Op::Ship,
        keys: &[Key::plain(KeyCode::Char('S'))],
        description: "ship to prod: tests, next tag, release (asks first)",
    },
    Binding {
        action: Op::Promote,
        keys: &[Key::plain(KeyCode::Char('p'))],
        description: "promote a qa prerelease to prod, no rebuild (asks first)",
    },
    Binding {
        action: Op::Rollback,
        keys: &[Key::plain(KeyCode::Char('r'))],
        description: "roll back: fast (rollout undo) or clean (previous release latest)",
    },
    Binding {
        action: Op::ShipAll,
        keys: &[Key::plain(KeyCode::Char('A'))],
        description: "ship every service of ship_all to prod (asks first)",
    },
    Binding {
        action: Op::Approve,
        keys: &[Key::plain(KeyCode::Char('a'))],
        description: "approve the run that waits for a reviewer (asks first)",
    },
    Binding {
        action: Op::Restart,
        keys: &[Key::plain(KeyCode::Char('R'))],
        description: "restart every pod of an environment, same image (asks first)",
    },
];

/// How a "read-only" notice names an operation.
pub fn op_words(op: Op) -> &'static str {
    match op {
        Op::Ship => "ship to prod",
        Op::ShipQa => "ship to qa",
        Op::Promote => "promote",
        Op::Rollback => "rollback",
        Op::ShipAll => "ship all",
        Op::Approve => "approve",
        Op::Restart => "restart",
    }
}

/// The navigation bindings that work in a session: `l` only where logs
/// are on (`hearth watch` without `--logs` has them off).
pub fn navigation(logs_enabled: bool) -> impl Iterator<Item = &'static Binding<Nav>> {
    NAVIGATION
        .iter()
        .filter(move |b| logs_enabled || b.action != Nav::Logs)
}

/// The bindings of a read-only session: navigation alone, by type.
pub fn read_only() -> &'static [Binding<Nav>] {
    NAVIGATION
}

/// The operation bindings a session has: none when read-only.
pub fn operations(access: Access) -> &'static [Binding<Op>] {
    match access {
        Access::ReadOnly => &[],
        Access::ReadWrite => OPERATIONS,
    }
}

fn find<A: Copy>(table: &[Binding<A>], event: &KeyEvent) -> Option<A> {
    table
        .iter()
        .find(|b| b.keys.iter().any(|k| k.matches(event)))
        .map(|b| b.action)
}

/// The intent a key names in a session with `access`, if any.
pub fn lookup(access: Access, event: &KeyEvent) -> Option<Action> {
    match access {
        Access::ReadOnly => find(read_only(), event).map(Action::Nav),
        Access::ReadWrite => find(NAVIGATION, event)
            .map(Action::Nav)
            .or_else(|| find(OPERATIONS, event).map(Action::Op)),
    }
}

/// The operation a key would start in a read-write session: what a
/// read-only session names in its "read-only" notice.
pub fn operation_key(event: &KeyEvent) -> Option<Op> {
    find(OPERATIONS, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn arrows_and_vi_keys_select() {
        for access in [Access::ReadWrite, Access::ReadOnly] {
            assert_eq!(
                lookup(access, &key(KeyCode::Char('j'), KeyModifiers::NONE)),
                Some(Action::Nav(Nav::Down))
            );
            assert_eq!(
                lookup(access, &key(KeyCode::Up, KeyModifiers::NONE)),
                Some(Action::Nav(Nav::Up))
            );
        }
    }

    #[test]
    fn help_lists_logs_only_where_logs_are_on() {
        assert!(navigation(true).any(|b| b.action == Nav::Logs));
        assert!(!navigation(false).any(|b| b.action == Nav::Logs));
        // Everything else stays.
        assert_eq!(navigation(false).count() + 1, navigation(true).count());
    }

    #[test]
    fn the_read_only_keymap_holds_no_operation() {
        // By type, `read_only()` holds `Nav`s only; and no key of the
        // read-write keymap resolves to an operation in a read-only session.
        let nav_only: &[Binding<Nav>] = read_only();
        assert!(!nav_only.is_empty());
        assert!(operations(Access::ReadOnly).is_empty());
        for b in OPERATIONS {
            for k in b.keys {
                let event = KeyEvent::new(k.code, k.modifiers);
                assert!(
                    !matches!(lookup(Access::ReadOnly, &event), Some(Action::Op(_))),
                    "{:?} is an operation in read-only mode",
                    k
                );
                assert_eq!(operation_key(&event), Some(b.action));
            }
        }
    }

    #[test]
    fn shifted_characters_match_and_ctrl_c_quits() {
        let q = lookup(
            Access::ReadWrite,
            &key(KeyCode::Char('?'), KeyModifiers::SHIFT),
        );
        assert_eq!(q, Some(Action::Nav(Nav::Help)));
        let c = lookup(
            Access::ReadWrite,
            &key(KeyCode::Char('c'), KeyModifiers::CONTROL),
        );
        assert_eq!(c, Some(Action::Nav(Nav::Quit)));
        // A plain `c` is not Ctrl-C.
        assert_eq!(
            lookup(
                Access::ReadOnly,
                &key(KeyCode::Char('c'), KeyModifiers::NONE)
            ),
            None
        );
    }

    #[test]
    fn every_binding_has_keys_and_a_description() {
        for b in NAVIGATION {
            assert!(!b.keys.is_empty(), "{:?} has no key", b.action);
            assert!(!b.description.is_empty());
        }
        for b in OPERATIONS {
            assert!(!b.keys.is_empty(), "{:?} has no key", b.action);
            assert!(!b.description.is_empty());
        }
        assert_eq!(Key::ctrl('c').label(), "Ctrl-c");
    }
}
