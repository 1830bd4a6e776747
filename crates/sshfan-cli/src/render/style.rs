//! Colour, decided once: `--color`, `NO_COLOR`, and whether the stream is a terminal.

use std::io::IsTerminal;

use crate::args::ColorChoice;

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    enabled: bool,
}

impl Style {
    /// Colour on when asked, or when `auto` and stdout is a terminal and `NO_COLOR` is unset.
    pub fn choose(choice: ColorChoice) -> Style {
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Style { enabled }
    }

    pub fn plain() -> Style {
        Style { enabled: false }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn host(&self, text: &str) -> String {
        self.paint("36", text)
    }

    pub fn host_stderr(&self, text: &str) -> String {
        self.paint("35", text)
    }

    pub fn error(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn warning(&self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn ok(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn header(&self, text: &str) -> String {
        self.paint("1;36", text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_adds_nothing() {
        assert_eq!(Style::plain().host("web1"), "web1");
        assert_eq!(Style::choose(ColorChoice::Never).error("x"), "x");
        assert_eq!(
            Style::choose(ColorChoice::Always).error("x"),
            "\x1b[31mx\x1b[0m"
        );
    }
}
