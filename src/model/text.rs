//! Untrusted text made inert: anyone who can push a workflow, set an image or
//! write a release can put escape sequences into what hearth prints. Every
//! string that comes from outside (Kubernetes and GitHub answers, the
//! registry, git's output) passes through here once, where it enters: the
//! parsers of those answers and the registry loader call these functions, so
//! the printers (TUI, `status`, progress lines, `check`, `history`) never see
//! a raw control character. Pure; runs on whichever task parses.
//!
//! The rules: escape sequences (CSI, OSC, DCS/SOS/PM/APC strings and
//! two-character escapes, in their 7-bit and 8-bit forms) are removed whole;
//! other C0 controls and DEL become caret notation (`^G`, `^?`), visible and
//! inert; other C1 controls and the bidirectional overrides (which reorder
//! what a reader sees) become `�`; a tab becomes one space (`block` keeps
//! line breaks, `line` shows them as `^J`).

use std::borrow::Cow;

/// Text for one line (a tag, a name, a step): nothing that moves the cursor.
pub fn line(s: &str) -> Cow<'_, str> {
    clean(s, Mode::Line)
}

/// Text of several lines (a release body, an error body, git's stderr):
/// line breaks kept, everything else as in [`line`].
pub fn block(s: &str) -> Cow<'_, str> {
    clean(s, Mode::Block)
}

/// A log line: as [`line`], but a tab advances to the next multiple of 8
/// columns (as a terminal would) and a carriage return is dropped (CRLF logs).
pub fn log_line(s: &str) -> String {
    clean(s, Mode::Log).into_owned()
}

/// `line` for an owned string, without copying when it is clean already.
pub fn own_line(s: String) -> String {
    match line(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(o) => o,
    }
}

/// `block` for an owned string, without copying when it is clean already.
pub fn own_block(s: String) -> String {
    match block(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(o) => o,
    }
}

/// Whether a string would be changed by [`line`]: it holds a character that
/// can act on a terminal.
pub fn is_hostile(s: &str) -> bool {
    s.chars().any(needs_care)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Line,
    Block,
    Log,
}

fn needs_care(c: char) -> bool {
    let n = c as u32;
    n < 0x20 || (0x7f..=0x9f).contains(&n) || is_bidi(c)
}

/// The bidirectional embedding, override and isolate controls.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn clean(s: &str, mode: Mode) -> Cow<'_, str> {
    if !s
        .chars()
        .any(|c| needs_care(c) && !(mode == Mode::Block && c == '\n'))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    let mut col = 0usize;
    while let Some(c) = chars.next() {
        let before = out.len();
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => {
                    skip_string(&mut chars)
                }
                // ESC followed by intermediates then a final byte (ESC ( B).
                Some(i) if ('\u{20}'..='\u{2f}').contains(&i) => {
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        if !('\u{20}'..='\u{2f}').contains(&n) {
                            break;
                        }
                    }
                }
                // ESC c, ESC 7, ESC M ...: two characters, removed.
                Some(_) | None => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\t' => match mode {
                Mode::Log => {
                    let to = (col / 8 + 1) * 8;
                    for _ in col..to {
                        out.push(' ');
                    }
                    col = to;
                    continue;
                }
                _ => out.push(' '),
            },
            '\n' if mode == Mode::Block => {
                out.push('\n');
                col = 0;
                continue;
            }
            '\r' if mode != Mode::Line => {
                // CRLF: the LF carries the break. A lone CR would overwrite
                // the line on a terminal; show it where it is not an ending.
                if mode == Mode::Block && chars.peek().is_some_and(|&n| n != '\n') {
                    out.push_str("^M");
                }
            }
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from_u32(c as u32 + 0x40).unwrap_or('?'));
            }
            '\u{7f}' => out.push_str("^?"),
            c if needs_care(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
        col += out[before..].chars().count();
    }
    Cow::Owned(out)
}

/// CSI: parameter and intermediate bytes up to a final byte (0x40..=0x7e).
/// A sequence cut short by a character outside that grammar ends there.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(&n) = chars.peek() {
        if ('\u{40}'..='\u{7e}').contains(&n) {
            chars.next();
            return;
        }
        if !('\u{20}'..='\u{3f}').contains(&n) {
            return;
        }
        chars.next();
    }
}

/// OSC, DCS, SOS, PM, APC: up to BEL, ST (`ESC \` or 0x9c) or the end.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(n) = chars.next() {
        match n {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// `s` cut to `width` characters from the left, `…` marking the cut: for
/// text whose end tells it apart (a tag: `….0.28`).
pub fn truncate_start(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::from("…");
    out.extend(s.chars().skip(n - (width - 1)));
    out
}

/// Cut a string to `width` characters, marking the cut with `…`.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// A duration in seconds as a person says it: `45 s`, `12 min`, `5 h`, `9 d`.
pub fn age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_a_person_says_them() {
        assert_eq!(age(-5), "0 s");
        assert_eq!(age(59), "59 s");
        assert_eq!(age(600), "10 min");
        assert_eq!(age(5 * 3600), "5 h");
        assert_eq!(age(9 * 86_400 + 7), "9 d");
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(line("v0.0.28 ✓ ünï"), Cow::Borrowed(_)));
        assert!(matches!(block("a\nb"), Cow::Borrowed(_)));
        assert!(matches!(line("a\nb"), Cow::Owned(_)));
    }

    #[test]
    fn sequences_are_removed_and_controls_shown() {
        assert_eq!(line("v9\u{1b}]0;X\u{7}\u{1b}[2J"), "v9");
        assert_eq!(line("\u{1b}[31mred\u{1b}[0m plain"), "red plain");
        assert_eq!(line("title\u{1b}]0;pwned\u{1b}\\after"), "titleafter");
        assert_eq!(line("bell\u{7} tab\tend"), "bell^G tab end");
        assert_eq!(line("clear\u{1b}c!"), "clear!");
        assert_eq!(line("charset\u{1b}(Bx"), "charsetx");
        assert_eq!(line("c1 \u{9b}2J csi"), "c1  csi");
        assert_eq!(line("osc8 \u{9d}8;;http://x\u{9c}link"), "osc8 link");
        assert_eq!(line("dcs \u{1b}Pq#0\u{1b}\\ end"), "dcs  end");
        assert_eq!(line("del\u{7f} nel\u{85}"), "del^? nel\u{fffd}");
        assert_eq!(line("a\nb\rc"), "a^Jb^Mc");
        assert_eq!(line("rtl \u{202e}gnp.exe"), "rtl \u{fffd}gnp.exe");
        assert_eq!(line("cut \u{1b}"), "cut ");
        assert_eq!(line("cut \u{1b}[12"), "cut ");
    }

    #[test]
    fn blocks_keep_line_breaks() {
        assert_eq!(block("one\r\ntwo\n\u{1b}[2Jthree"), "one\ntwo\nthree");
        assert_eq!(block("over\rwrite"), "over^Mwrite");
    }

    #[test]
    fn logs_expand_tabs_to_stops() {
        assert_eq!(log_line("a\tb"), "a       b");
        assert_eq!(log_line("12345678\tx\r"), "12345678        x");
        assert_eq!(log_line("\u{1b}[1mbold\u{1b}[0m\t|"), "bold    |");
    }

    #[test]
    fn nothing_left_can_act_on_a_terminal() {
        // Every single character and every pair of a hostile alphabet.
        let alphabet: Vec<char> = (0u32..0x20)
            .chain(0x7f..0xa0)
            .chain([0x202e, 0x41, 0x5b, 0x5d, 0x5c])
            .filter_map(char::from_u32)
            .collect();
        for a in &alphabet {
            for b in &alphabet {
                let s: String = [*a, *b, 'x'].iter().collect();
                for out in [line(&s).into_owned(), block(&s).into_owned(), log_line(&s)] {
                    assert!(
                        !out.chars().any(|c| needs_care(c) && c != '\n'),
                        "{s:?} -> {out:?}"
                    );
                }
            }
        }
    }
}
