//! Light and dark themes. The shell's inline script picks one before the first paint (the
//! remembered choice, else the system setting) and marks `<html data-theme>`; the stylesheet
//! and the charts follow that mark. The toggle switches it and remembers the choice.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    Dark,
    Light,
}

/// Where the explicit choice is remembered (`PICK_BEFORE_PAINT` spells the same key).
pub const STORAGE_KEY: &str = "livedash-theme";

/// Runs in `<head>` before anything paints: no flash of the wrong theme.
pub const PICK_BEFORE_PAINT: &str = "(function(){try{var t=localStorage.getItem('livedash-theme');}catch(e){}\
if(t!=='light'&&t!=='dark'){t=matchMedia('(prefers-color-scheme: light)').matches?'light':'dark';}\
document.documentElement.setAttribute('data-theme',t);})();";

impl Theme {
    pub fn label(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Light => "light",
        }
    }

    pub fn other(self) -> Theme {
        match self {
            Theme::Dark => Theme::Light,
            Theme::Light => Theme::Dark,
        }
    }
}

/// The current theme, provided to every component by `App`.
#[derive(Clone, Copy)]
pub struct ThemeState(pub RwSignal<Theme>);

/// Provides the theme: dark on the server and during hydration (so both render alike), then
/// whatever the page was marked with.
pub fn provide_theme() -> ThemeState {
    let theme = ThemeState(RwSignal::new(Theme::Dark));
    provide_context(theme);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let marked = document().document_element().and_then(|html| html.get_attribute("data-theme"));
        if marked.as_deref() == Some("light") {
            theme.0.set(Theme::Light);
        }
    });
    theme
}

/// Switches to the other theme, marks the page and remembers the choice.
pub fn toggle(theme: ThemeState) {
    let next = theme.0.get_untracked().other();
    theme.0.set(next);
    #[cfg(feature = "hydrate")]
    {
        if let Some(html) = document().document_element() {
            let _ = html.set_attribute("data-theme", next.label());
        }
        if let Ok(Some(storage)) = window().local_storage() {
            let _ = storage.set_item(STORAGE_KEY, next.label());
        }
    }
}
