//! Themes: role-named styles (title, selected row, ok, warn, error, ...) and
//! per-environment accents, loaded from YAML. The built-in themes in
//! `themes/*.yaml` are embedded in the binary; `--theme` picks one by name or
//! reads a file. Loaded once at start-up (main thread) and passed by
//! reference to every draw call: no globals, so tests can vary it.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The built-in themes: (name, YAML source).
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.yaml")),
    ("light", include_str!("../../themes/light.yaml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.yaml"),
    ),
    ("k9s", include_str!("../../themes/k9s.yaml")),
];

/// Why a theme could not be loaded. The message names the file (or built-in
/// theme) and the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ThemeError(pub String);

/// Every style role a theme may set, with what it is for.
pub const ROLES: &[(&str, &str)] = &[
    ("base", "text and background of the whole screen"),
    ("title", "the title bar"),
    ("header", "table headers and section titles"),
    ("border", "pane borders"),
    ("border_focused", "the border of the pane that has focus"),
    ("selected", "the selected row"),
    (
        "ok",
        "healthy: rollout complete, step succeeded, source live",
    ),
    ("warn", "attention: rolling out, degraded, not shippable"),
    ("error", "failure: rollout failed, step failed, source down"),
    ("running", "in progress: CI running, connecting"),
    ("muted", "secondary text and unknown values"),
    ("key", "key names in the help overlay"),
    ("filter", "the filter bar"),
    ("status_bar", "the status bar"),
    ("popup", "overlays such as the help"),
];

/// Resolved styles, one per role, plus environment accents.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub base: Style,
    pub title: Style,
    pub header: Style,
    pub border: Style,
    pub border_focused: Style,
    pub selected: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub running: Style,
    pub muted: Style,
    pub key: Style,
    pub filter: Style,
    pub status_bar: Style,
    pub popup: Style,
    /// Environment name → accent colour, overriding the registry's `accent`.
    pub accents: BTreeMap<String, Color>,
    /// Whether colours were stripped for `NO_COLOR`.
    pub no_color: bool,
}

/// A style as written in a theme file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    modifiers: Vec<String>,
}

/// A theme file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    #[serde(default)]
    styles: BTreeMap<String, StyleSpec>,
    #[serde(default)]
    accents: BTreeMap<String, String>,
}

impl Default for Theme {
    fn default() -> Self {
        Theme::builtin("default").expect("the embedded default theme is valid")
    }
}

impl Theme {
    /// Load a theme: a built-in name, or a path to a YAML file. `None`
    /// means the default theme. With `no_color`, colours are stripped and
    /// modifiers kept (the `NO_COLOR` convention).
    pub fn load(spec: Option<&str>, no_color: bool) -> Result<Theme, ThemeError> {
        let theme = match spec {
            None => Theme::builtin("default")?,
            Some(name) if BUILTIN.iter().any(|(n, _)| *n == name) => Theme::builtin(name)?,
            Some(path) if looks_like_path(path) => Theme::from_file(Path::new(path))?,
            Some(other) => {
                let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                let hint = suggest(other, names.iter().copied())
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                return Err(ThemeError(format!(
                    "unknown theme '{other}'{hint}: built-in themes are {}; or give a path to a .yaml file",
                    names.join(", ")
                )));
            }
        };
        Ok(if no_color {
            theme.without_color()
        } else {
            theme
        })
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Result<Theme, ThemeError> {
        let (_, source) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ThemeError(format!("no built-in theme '{name}'")))?;
        Theme::parse(source, &format!("built-in theme '{name}'"))
    }

    /// Read a theme file.
    pub fn from_file(path: &Path) -> Result<Theme, ThemeError> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| ThemeError(format!("{}: cannot read theme: {e}", path.display())))?;
        Theme::parse(&source, &path.display().to_string())
    }

    /// Parse theme YAML. Roles the file does not set keep the default
    /// theme's style, so a user theme may override only a few. `origin`
    /// names the file in errors.
    pub fn parse(source: &str, origin: &str) -> Result<Theme, ThemeError> {
        // Errors quote the file's keys and values: inert on the way out.
        Theme::parse_file(source, origin).map_err(|e| ThemeError(crate::model::text::own_line(e.0)))
    }

    fn parse_file(source: &str, origin: &str) -> Result<Theme, ThemeError> {
        // The registry's bounded reader first: an alias bomb, a huge file or
        // deep nesting is refused where it starts, before serde builds it.
        if let Err(e) = crate::registry::tree::parse(source) {
            return Err(ThemeError(format!(
                "{origin}:{}:{}: invalid theme: {}",
                e.pos.line,
                e.pos.col,
                crate::model::text::line(&e.message)
            )));
        }
        let file: ThemeFile = serde_yaml::from_str(source).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            ThemeError(format!("{origin}{at}: invalid theme: {e}"))
        })?;
        let mut theme = if origin == "built-in theme 'default'" {
            Theme::blank()
        } else {
            Theme::default()
        };
        if let Some(name) = file.name {
            theme.name = crate::model::text::own_line(name);
        }
        for (role, spec) in &file.styles {
            let located = |key: &str, msg: String| {
                let at = line_of(source, key)
                    .map(|l| format!(":{l}"))
                    .unwrap_or_default();
                ThemeError(format!("{origin}{at}: {msg}"))
            };
            let Some(slot) = theme.slot(role) else {
                let hint = suggest(role, ROLES.iter().map(|(r, _)| *r))
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                return Err(located(
                    role,
                    format!("styles.{role}: unknown style role{hint}"),
                ));
            };
            let mut style = Style::default();
            for (key, value) in [("fg", &spec.fg), ("bg", &spec.bg)] {
                let Some(value) = value else { continue };
                let color = parse_color(value)
                    .map_err(|m| located(value, format!("styles.{role}.{key}: {m}")))?;
                style = if key == "fg" {
                    style.fg(color)
                } else {
                    style.bg(color)
                };
            }
            for m in &spec.modifiers {
                let modifier = parse_modifier(m)
                    .map_err(|msg| located(m, format!("styles.{role}.modifiers: {msg}")))?;
                style = style.add_modifier(modifier);
            }
            *slot = style;
        }
        for (env, value) in &file.accents {
            let color = parse_color(value)
                .map_err(|m| ThemeError(format!("{origin}: accents.{env}: {m}")))?;
            theme.accents.insert(env.clone(), color);
        }
        Ok(theme)
    }

    fn blank() -> Theme {
        Theme {
            name: String::new(),
            base: Style::default(),
            title: Style::default(),
            header: Style::default(),
            border: Style::default(),
            border_focused: Style::default(),
            selected: Style::default(),
            ok: Style::default(),
            warn: Style::default(),
            error: Style::default(),
            running: Style::default(),
            muted: Style::default(),
            key: Style::default(),
            filter: Style::default(),
            status_bar: Style::default(),
            popup: Style::default(),
            accents: BTreeMap::new(),
            no_color: false,
        }
    }

    fn slot(&mut self, role: &str) -> Option<&mut Style> {
        Some(match role {
            "base" => &mut self.base,
            "title" => &mut self.title,
            "header" => &mut self.header,
            "border" => &mut self.border,
            "border_focused" => &mut self.border_focused,
            "selected" => &mut self.selected,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "error" => &mut self.error,
            "running" => &mut self.running,
            "muted" => &mut self.muted,
            "key" => &mut self.key,
            "filter" => &mut self.filter,
            "status_bar" => &mut self.status_bar,
            "popup" => &mut self.popup,
            _ => return None,
        })
    }

    /// The same theme with colours removed and modifiers kept. The selected
    /// row is reversed so that it stays visible without colour.
    pub fn without_color(mut self) -> Theme {
        for (role, _) in ROLES {
            let slot = self.slot(role).expect("every role has a slot");
            slot.fg = None;
            slot.bg = None;
        }
        self.selected = self.selected.add_modifier(Modifier::REVERSED);
        self.accents.clear();
        self.no_color = true;
        self
    }

    /// The accent style for an environment: the theme's colour for it, else
    /// the registry's `accent` colour name, else none. Always bold so that an
    /// environment's data stands out even without colour.
    pub fn accent(&self, env: &str, registry_accent: Option<&str>) -> Style {
        let style = Style::default().add_modifier(Modifier::BOLD);
        if self.no_color {
            return style;
        }
        let color = self
            .accents
            .get(env)
            .copied()
            .or_else(|| registry_accent.and_then(|c| Color::from_str(c).ok()));
        match color {
            Some(c) => style.fg(c),
            None => style,
        }
    }
}

fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.ends_with(".yaml") || s.ends_with(".yml") || Path::new(s).exists()
}

/// Parse a colour: a name (`red`, `light-blue`, `dark-gray`), `#rrggbb`, or
/// an index 0-255.
fn parse_color(value: &str) -> Result<Color, String> {
    Color::from_str(value).map_err(|_| {
        format!(
            "unknown colour '{value}' (use a name such as red, light-blue, dark-gray, a hex value #rrggbb, or 0-255)"
        )
    })
}

const MODIFIERS: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
    ("crossed_out", Modifier::CROSSED_OUT),
    ("slow_blink", Modifier::SLOW_BLINK),
];

fn parse_modifier(value: &str) -> Result<Modifier, String> {
    MODIFIERS
        .iter()
        .find(|(n, _)| *n == value)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            let hint = suggest(value, MODIFIERS.iter().map(|(n, _)| *n))
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            format!("unknown modifier '{value}'{hint}")
        })
}

/// The nearest candidate to a misspelt word, if one is close.
fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The 1-based line where `needle` first appears as a key or value, to point
/// at it in an error.
fn line_of(source: &str, needle: &str) -> Option<usize> {
    source
        .lines()
        .position(|l| {
            let l = l.split('#').next().unwrap_or("");
            l.contains(needle)
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_themes_load_and_differ() {
        let mut seen = Vec::new();
        for (name, _) in BUILTIN {
            let theme = Theme::builtin(name).unwrap();
            assert!(!seen.contains(&theme), "{name} equals another theme");
            seen.push(theme);
        }
    }

    #[test]
    fn unknown_colour_names_file_and_key() {
        let err = Theme::parse("styles:\n  title:\n    fg: purpl\n", "my.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("my.yaml:3: styles.title.fg"), "{msg}");
        assert!(msg.contains("unknown colour 'purpl'"), "{msg}");
    }

    #[test]
    fn unknown_role_suggests_nearest() {
        let err = Theme::parse("styles:\n  titel: {fg: red}\n", "t.yaml").unwrap_err();
        assert!(err.to_string().contains("did you mean 'title'"), "{err}");
        let err = Theme::parse("styles:\n  title: {fg: red, bold: true}\n", "t.yaml").unwrap_err();
        assert!(err.to_string().starts_with("t.yaml:2:"), "{err}");
    }

    #[test]
    fn malformed_yaml_is_located() {
        let err = Theme::parse("styles: [unclosed\n", "bad.yaml").unwrap_err();
        assert!(err.to_string().starts_with("bad.yaml:"), "{err}");
    }

    #[test]
    fn partial_theme_keeps_defaults() {
        let theme = Theme::parse("styles:\n  ok: {fg: blue}\n", "t.yaml").unwrap();
        assert_eq!(theme.ok.fg, Some(Color::Blue));
        assert_eq!(theme.error, Theme::default().error);
    }

    #[test]
    fn no_color_strips_colours_keeps_modifiers() {
        let theme = Theme::load(Some("default"), true).unwrap();
        assert_eq!(theme.title.fg, None);
        assert!(theme.title.add_modifier.contains(Modifier::BOLD));
        assert!(theme.selected.add_modifier.contains(Modifier::REVERSED));
        assert_eq!(theme.accent("prod", Some("red")).fg, None);
    }

    #[test]
    fn accents_prefer_theme_then_registry() {
        let theme = Theme::parse("accents:\n  prod: magenta\n", "t.yaml").unwrap();
        assert_eq!(theme.accent("prod", Some("red")).fg, Some(Color::Magenta));
        assert_eq!(theme.accent("qa", Some("yellow")).fg, Some(Color::Yellow));
        assert_eq!(theme.accent("dev", None).fg, None);
    }

    #[test]
    fn theme_files_load_and_unreadable_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.yaml");
        std::fs::write(&path, "name: mine\nstyles:\n  ok: {fg: '#00ff00'}\n").unwrap();
        let theme = Theme::load(path.to_str(), false).unwrap();
        assert_eq!(theme.name, "mine");
        assert_eq!(theme.ok.fg, Some(Color::Rgb(0, 255, 0)));
        let missing = dir.path().join("nope.yaml");
        let err = Theme::load(missing.to_str(), false).unwrap_err();
        assert!(
            err.to_string().contains("nope.yaml: cannot read theme"),
            "{err}"
        );
    }

    #[test]
    fn unknown_theme_name_is_explained() {
        let err = Theme::load(Some("ligth"), false).unwrap_err();
        assert!(err.to_string().contains("did you mean 'light'"), "{err}");
    }

    type Rgb = (u8, u8, u8);

    /// The xterm palette, for the contrast rule: what the 16 named colours
    /// look like on a stock terminal.
    fn rgb(c: Color) -> (u8, u8, u8) {
        match c {
            Color::Rgb(r, g, b) => (r, g, b),
            Color::Black => (0, 0, 0),
            Color::Red => (205, 0, 0),
            Color::Green => (0, 205, 0),
            Color::Yellow => (205, 205, 0),
            Color::Blue => (0, 0, 238),
            Color::Magenta => (205, 0, 205),
            Color::Cyan => (0, 205, 205),
            Color::Gray => (229, 229, 229),
            Color::DarkGray => (127, 127, 127),
            Color::LightRed => (255, 0, 0),
            Color::LightGreen => (0, 255, 0),
            Color::LightYellow => (255, 255, 0),
            Color::LightBlue => (92, 92, 255),
            Color::LightMagenta => (255, 0, 255),
            Color::LightCyan => (0, 255, 255),
            Color::White => (255, 255, 255),
            Color::Indexed(i) if i < 16 => rgb(ratatui_index(i)),
            Color::Indexed(i) if i < 232 => {
                let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
                let i = i - 16;
                (level(i / 36), level((i / 6) % 6), level(i % 6))
            }
            Color::Indexed(i) => {
                let v = 8 + 10 * (i - 232);
                (v, v, v)
            }
            Color::Reset => unreachable!("resolved before"),
        }
    }

    fn ratatui_index(i: u8) -> Color {
        [
            Color::Black,
            Color::Red,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::Cyan,
            Color::Gray,
            Color::DarkGray,
            Color::LightRed,
            Color::LightGreen,
            Color::LightYellow,
            Color::LightBlue,
            Color::LightMagenta,
            Color::LightCyan,
            Color::White,
        ][i as usize]
    }

    /// WCAG 2's relative luminance.
    fn luminance(c: (u8, u8, u8)) -> f64 {
        let ch = |v: u8| {
            let v = v as f64 / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(c.0) + 0.7152 * ch(c.1) + 0.0722 * ch(c.2)
    }

    fn ratio(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// What a style drawn over `under` shows: (fg, bg) after patching and
    /// `reversed`, with the terminal's own colours for unset ones.
    fn shown(
        under: Style,
        style: Style,
        term: ((u8, u8, u8), (u8, u8, u8)),
    ) -> ((u8, u8, u8), (u8, u8, u8)) {
        let s = under.patch(style);
        let pick = |c: Option<Color>, default| match c {
            None | Some(Color::Reset) => default,
            Some(c) => rgb(c),
        };
        let (fg, bg) = (pick(s.fg, term.0), pick(s.bg, term.1));
        if s.add_modifier.contains(Modifier::REVERSED)
            && !s.sub_modifier.contains(Modifier::REVERSED)
        {
            (bg, fg)
        } else {
            (fg, bg)
        }
    }

    /// Every (what, fg, bg) pair a theme can draw text with: each text role
    /// and accent over each surface (the screen, the status bar, overlays),
    /// the surfaces' own text, and the selected row (whose style covers the
    /// cells of the row). A theme with a dark text colour is taken to be
    /// made for a light terminal, else for a dark one.
    fn text_pairs(t: &Theme) -> Vec<(String, Rgb, Rgb)> {
        let dark_fg = t
            .base
            .fg
            .is_some_and(|c| c != Color::Reset && luminance(rgb(c)) < 0.2);
        let term = if dark_fg {
            ((0, 0, 0), (255, 255, 255))
        } else {
            ((229, 229, 229), (0, 0, 0))
        };
        let surfaces = [
            ("screen", t.base),
            ("status bar", t.base.patch(t.status_bar)),
            ("popup", t.base.patch(t.popup)),
        ];
        let mut roles: Vec<(String, Style)> = vec![
            ("title".into(), t.title),
            ("header".into(), t.header),
            ("ok".into(), t.ok),
            ("warn".into(), t.warn),
            ("error".into(), t.error),
            ("running".into(), t.running),
            ("muted".into(), t.muted),
            ("key".into(), t.key),
            ("filter".into(), t.filter),
        ];
        for (env, c) in &t.accents {
            roles.push((format!("accent {env}"), Style::default().fg(*c)));
        }
        let mut out = Vec::new();
        for (sname, surface) in surfaces {
            let (fg, bg) = shown(Style::default(), surface, term);
            out.push((format!("text on the {sname}"), fg, bg));
            for (rname, role) in &roles {
                let (fg, bg) = shown(surface, *role, term);
                out.push((format!("{rname} on the {sname}"), fg, bg));
            }
        }
        let (fg, bg) = shown(t.base, t.selected, term);
        out.push(("the selected row".into(), fg, bg));
        out
    }

    /// The themes' contrast rule (README, "Themes"): every text colour
    /// against every background it can be drawn on is at least 4.5:1, WCAG
    /// AA for text; and the selected row stands apart from the others.
    #[test]
    fn every_builtin_theme_keeps_text_readable() {
        let mut failures = Vec::new();
        for (name, _) in BUILTIN {
            let t = Theme::builtin(name).unwrap();
            for (what, fg, bg) in text_pairs(&t) {
                let r = ratio(fg, bg);
                if r < 4.5 {
                    failures.push(format!("{name}: {what}: {r:.2}:1 ({fg:?} on {bg:?})"));
                }
            }
            let dark_fg = t.base.fg.is_some_and(|c| luminance(rgb(c)) < 0.2);
            let term = if dark_fg {
                ((0, 0, 0), (255, 255, 255))
            } else {
                ((229, 229, 229), (0, 0, 0))
            };
            let (_, row_bg) = shown(Style::default(), t.base, term);
            let (_, sel_bg) = shown(t.base, t.selected, term);
            if ratio(row_bg, sel_bg) < 1.15 {
                failures.push(format!(
                    "{name}: the selected row's background {sel_bg:?} is hardly told from the others' {row_bg:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_contrast_rule_catches_what_it_names() {
        // White on white, and a reversed style that undoes itself.
        let t = Theme::parse(
            "styles:\n  base: {fg: white, bg: black}\n  status_bar: {fg: black, bg: white}\n  title: {fg: white}\n  selected: {fg: black, bg: white, modifiers: [reversed]}\n",
            "t.yaml",
        )
        .unwrap();
        let pairs = text_pairs(&t);
        let title = pairs
            .iter()
            .find(|p| p.0 == "title on the status bar")
            .unwrap();
        assert!(ratio(title.1, title.2) < 1.1);
        let sel = pairs.iter().find(|p| p.0 == "the selected row").unwrap();
        assert_eq!(sel.2, (0, 0, 0), "reversed black-on-white is the plain row");
        assert!((ratio((0, 0, 0), (255, 255, 255)) - 21.0).abs() < 0.01);
    }
}
