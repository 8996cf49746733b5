//! Word wrapping with a hanging indent. ratatui's `Wrap` starts every
//! continuation line at column 0, which breaks the detail pane's indented
//! layout; this keeps wrapped text under the line it belongs to. Pure; called
//! on the render path.

use ratatui::text::{Line, Span};

/// Wrap each of `lines` to `width` columns at word boundaries. A continuation
/// line is indented two columns deeper than its line's own leading spaces.
/// Styles are kept per word; a word longer than a line is cut into pieces.
pub fn hang_wrap(lines: Vec<Line<'_>>, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if width == 0 || line.width() <= width {
            out.push(owned(line));
            continue;
        }
        let indent: usize = line
            .spans
            .iter()
            .flat_map(|s| s.content.chars())
            .take_while(|c| *c == ' ')
            .count();
        let hang = (indent + 2).min(width / 2);
        let mut filler = Filler {
            out: &mut out,
            width,
            hang,
            style: line.style,
            current: Vec::new(),
            used: 0,
            first: true,
        };
        for span in &line.spans {
            for token in tokens(&span.content) {
                filler.push(Span::styled(token.to_string(), span.style));
            }
        }
        filler.finish();
    }
    out
}

struct Filler<'o> {
    out: &'o mut Vec<Line<'static>>,
    width: usize,
    hang: usize,
    style: ratatui::style::Style,
    current: Vec<Span<'static>>,
    used: usize,
    first: bool,
}

impl Filler<'_> {
    fn push(&mut self, token: Span<'static>) {
        let blank = token.content.trim().is_empty();
        let start = if self.first { 0 } else { self.hang };
        if blank && self.used == start && !self.first {
            return; // no leading blanks on a continuation line
        }
        let w = token.width();
        if self.used + w <= self.width {
            self.used += w;
            self.current.push(token);
            return;
        }
        if blank {
            self.flush();
            return;
        }
        if self.used > start {
            self.flush();
        }
        // The word alone is wider than the room: cut it.
        let mut piece = String::new();
        for c in token.content.chars() {
            let room = self.width - self.used;
            let cw = Span::raw(c.to_string()).width();
            if Span::raw(piece.as_str()).width() + cw > room && !piece.is_empty() {
                let p = std::mem::take(&mut piece);
                self.used += Span::raw(p.as_str()).width();
                self.current.push(Span::styled(p, token.style));
                self.flush();
            }
            piece.push(c);
        }
        self.used += Span::raw(piece.as_str()).width();
        self.current.push(Span::styled(piece, token.style));
    }

    /// Push what is left, unless it is only a continuation's indent.
    fn finish(mut self) {
        if self.first || self.used > self.hang {
            let spans = std::mem::take(&mut self.current);
            self.out.push(Line::from(spans).style(self.style));
        }
    }

    /// End the current line and start a continuation line.
    fn flush(&mut self) {
        let mut spans = std::mem::take(&mut self.current);
        while spans.len() > 1 && spans.last().is_some_and(|s| s.content.trim().is_empty()) {
            spans.pop();
        }
        self.out.push(Line::from(spans).style(self.style));
        self.first = false;
        self.current.push(Span::raw(" ".repeat(self.hang)));
        self.used = self.hang;
    }
}

/// Runs of spaces and runs of non-spaces, in order.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut blank = None;
    for (i, c) in text.char_indices() {
        let b = c == ' ';
        if blank.is_some_and(|prev| prev != b) {
            out.push(&text[start..i]);
            start = i;
        }
        blank = Some(b);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn owned(line: Line<'_>) -> Line<'static> {
    let spans: Vec<Span<'static>> = line
        .spans
        .into_iter()
        .map(|s| Span::styled(s.content.into_owned(), s.style))
        .collect();
    let mut owned = Line::from(spans).style(line.style);
    owned.alignment = line.alignment;
    owned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn short_lines_are_untouched() {
        let lines = hang_wrap(vec![Line::from("  ● api  Running")], 40);
        assert_eq!(text(&lines), ["  ● api  Running"]);
    }

    #[test]
    fn continuation_hangs_under_the_line() {
        let lines = hang_wrap(
            vec![Line::from(
                "  Waiting for deployment rollout to finish: 1 out of 2",
            )],
            30,
        );
        assert_eq!(
            text(&lines),
            [
                "  Waiting for deployment",
                "    rollout to finish: 1 out",
                "    of 2"
            ]
        );
        assert!(lines.iter().all(|l| l.width() <= 30));
    }

    #[test]
    fn styles_survive_and_long_words_are_cut() {
        let style = ratatui::style::Style::default().fg(ratatui::style::Color::Red);
        let lines = hang_wrap(
            vec![Line::from(vec![
                Span::raw("x "),
                Span::styled("abcdefghijklmnop", style),
            ])],
            8,
        );
        assert_eq!(text(&lines), ["x", "  abcdef", "  ghijkl", "  mnop"]);
        assert!(lines.iter().all(|l| l.width() <= 8));
        assert_eq!(lines[2].spans.last().unwrap().style, style);
    }
}
