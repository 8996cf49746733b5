//! Key bindings as data: one table per mode mapping keys to an [`Action`] with
//! a description. `update` looks keys up here and the `?` help overlay is
//! generated from the same table, so the two cannot drift. Runs on the main task.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::Mode;

/// A user's intent, decoded from a key by the current mode's keymap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
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

/// One binding: an action, the keys that trigger it and what it does.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub action: Action,
    pub keys: &'static [Key],
    pub description: &'static str,
}

/// Navigation and view bindings every mode has. None of them changes anything
/// outside hearth, so the read-only watch mode can share them.
const NAVIGATION: &[Binding] = &[
    Binding {
        action: Action::Up,
        keys: &[Key::plain(KeyCode::Up), Key::plain(KeyCode::Char('k'))],
        description: "select previous service / scroll detail up",
    },
    Binding {
        action: Action::Down,
        keys: &[Key::plain(KeyCode::Down), Key::plain(KeyCode::Char('j'))],
        description: "select next service / scroll detail down",
    },
    Binding {
        action: Action::PageUp,
        keys: &[Key::plain(KeyCode::PageUp)],
        description: "page up",
    },
    Binding {
        action: Action::PageDown,
        keys: &[Key::plain(KeyCode::PageDown)],
        description: "page down",
    },
    Binding {
        action: Action::First,
        keys: &[Key::plain(KeyCode::Home), Key::plain(KeyCode::Char('g'))],
        description: "first service",
    },
    Binding {
        action: Action::Last,
        keys: &[Key::plain(KeyCode::End), Key::plain(KeyCode::Char('G'))],
        description: "last service",
    },
    Binding {
        action: Action::ToggleFocus,
        keys: &[Key::plain(KeyCode::Enter), Key::plain(KeyCode::Tab)],
        description: "focus the detail pane / back to the overview",
    },
    Binding {
        action: Action::Filter,
        keys: &[Key::plain(KeyCode::Char('/'))],
        description: "filter services by name",
    },
    Binding {
        action: Action::Back,
        keys: &[Key::plain(KeyCode::Esc)],
        description: "close help / clear filter / back to the overview",
    },
    Binding {
        action: Action::Help,
        keys: &[Key::plain(KeyCode::Char('?'))],
        description: "show or hide this help",
    },
    Binding {
        action: Action::Quit,
        keys: &[Key::plain(KeyCode::Char('q')), Key::ctrl('c')],
        description: "quit",
    },
];

/// The bindings of a mode, in the order the help overlay lists them.
///
/// Mutating actions (ship, promote, rollback) will be added to the
/// interactive and demo tables only; the watch table is navigation alone, so
/// no key can produce a mutating action there.
pub fn bindings(mode: Mode) -> &'static [Binding] {
    match mode {
        Mode::Interactive | Mode::Demo | Mode::Watch => NAVIGATION,
    }
}

/// The action a key triggers in a mode, if any.
pub fn lookup(mode: Mode, event: &KeyEvent) -> Option<Action> {
    bindings(mode)
        .iter()
        .find(|b| b.keys.iter().any(|k| k.matches(event)))
        .map(|b| b.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn arrows_and_vi_keys_select() {
        for mode in [Mode::Interactive, Mode::Watch, Mode::Demo] {
            assert_eq!(
                lookup(mode, &key(KeyCode::Char('j'), KeyModifiers::NONE)),
                Some(Action::Down)
            );
            assert_eq!(
                lookup(mode, &key(KeyCode::Up, KeyModifiers::NONE)),
                Some(Action::Up)
            );
        }
    }

    #[test]
    fn shifted_characters_match_and_ctrl_c_quits() {
        let q = lookup(
            Mode::Interactive,
            &key(KeyCode::Char('?'), KeyModifiers::SHIFT),
        );
        assert_eq!(q, Some(Action::Help));
        let c = lookup(
            Mode::Interactive,
            &key(KeyCode::Char('c'), KeyModifiers::CONTROL),
        );
        assert_eq!(c, Some(Action::Quit));
        // A plain `c` is not Ctrl-C.
        assert_eq!(
            lookup(
                Mode::Interactive,
                &key(KeyCode::Char('c'), KeyModifiers::NONE)
            ),
            None
        );
    }

    #[test]
    fn every_binding_has_keys_and_a_description() {
        for b in bindings(Mode::Interactive) {
            assert!(!b.keys.is_empty(), "{:?} has no key", b.action);
            assert!(!b.description.is_empty());
        }
        assert_eq!(Key::ctrl('c').label(), "Ctrl-c");
    }
}
