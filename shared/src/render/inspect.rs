//! What a compiled template does, found by walking its Handlebars syntax tree: unescaped
//! output, partials and decorators, the helpers it calls and the variable roots it reads.
//!
//! Scoping follows Handlebars: inside the main block of `#each` and `#with` the context is the
//! current item, so relative paths there (`{{name}}`) are not checked; `@root.…` paths are
//! checked everywhere; `../` paths are not checked. Parameters of a block helper and its
//! `{{else}}` part are evaluated in the enclosing scope.

use std::collections::BTreeSet;

use handlebars::template::{BlockParam, HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Path, PathSeg};

use super::helpers::is_helper;

/// The variable roots a template may read.
pub(crate) const ROOTS: &[&str] = &["profile", "context", "campaign", "unsubscribeUrl"];

/// Local variables Handlebars defines (`@index`…); `@root` alone is the whole data.
const LOCALS: &[&str] = &["index", "key", "first", "last", "root"];

/// A problem found at a line and column of the template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Located {
    pub(crate) what: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Located {
    pub(crate) fn at(&self) -> String {
        format!("line {}, column {}", self.line, self.column)
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Facts {
    /// `{{{x}}}` or `{{& x}}` expressions.
    pub(crate) unescaped: Vec<Located>,
    /// `{{> partial}}` and decorators.
    pub(crate) partials: Vec<Located>,
    /// Helpers that are not registered.
    pub(crate) unknown_helpers: Vec<Located>,
    /// Paths whose root is not a known root.
    pub(crate) unknown_roots: Vec<Located>,
    /// Known roots read from the top-level data (`profile`, `context`…).
    pub(crate) roots: BTreeSet<String>,
    /// Whether the template has any expression at all (false: plain text).
    pub(crate) dynamic: bool,
}

/// Walks a template.
pub(crate) fn inspect(t: &Template) -> Facts {
    let mut w = Walker::default();
    w.template(t, 0, (1, 1));
    w.facts
}

/// The text a template always outputs: its top-level raw text (blocks and expressions
/// dropped, whitespace around each piece trimmed because `~` may remove it).
pub(crate) fn static_text(t: &Template) -> String {
    t.elements
        .iter()
        .filter_map(|e| match e {
            TemplateElement::RawString(s) => Some(s.trim()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("")
}

#[derive(Default)]
struct Walker {
    facts: Facts,
    /// Block parameters in scope (`as |item|`).
    block_params: Vec<String>,
}

impl Walker {
    fn template(&mut self, t: &Template, depth: usize, fallback_pos: (usize, usize)) {
        for (i, e) in t.elements.iter().enumerate() {
            let pos = t.mapping.get(i).map_or(fallback_pos, |m| (m.0, m.1));
            self.element(e, depth, pos);
        }
    }

    fn push(list: &mut Vec<Located>, what: String, pos: (usize, usize)) {
        if !list.iter().any(|l| l.what == what) {
            list.push(Located {
                what,
                line: pos.0,
                column: pos.1,
            });
        }
    }

    fn element(&mut self, e: &TemplateElement, depth: usize, pos: (usize, usize)) {
        match e {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(ht) => {
                self.facts.dynamic = true;
                self.expression(ht, depth, pos);
            }
            TemplateElement::HtmlExpression(ht) => {
                self.facts.dynamic = true;
                Self::push(&mut self.facts.unescaped, describe(ht), pos);
                self.expression(ht, depth, pos);
            }
            TemplateElement::HelperBlock(ht) => {
                self.facts.dynamic = true;
                self.block(ht, depth, pos);
            }
            TemplateElement::DecoratorExpression(d)
            | TemplateElement::DecoratorBlock(d)
            | TemplateElement::PartialExpression(d)
            | TemplateElement::PartialBlock(d) => {
                self.facts.dynamic = true;
                let partial = matches!(
                    e,
                    TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_)
                );
                let name = d.name.as_name().unwrap_or("…").to_string();
                let what = if partial {
                    format!("{{{{> {name}}}}}")
                } else {
                    format!("{{{{* {name}}}}}")
                };
                Self::push(&mut self.facts.partials, what, pos);
            }
            _ => {}
        }
    }

    /// `{{name}}`, `{{helper args}}` and subexpressions.
    fn expression(&mut self, ht: &HelperTemplate, depth: usize, pos: (usize, usize)) {
        let name_only = ht.params.is_empty() && ht.hash.is_empty();
        match (&ht.name, name_only) {
            (Parameter::Path(p), true) => {
                if !is_helper(&raw(p)) {
                    self.path(p, depth, pos);
                }
            }
            (Parameter::Path(p), false) => {
                let name = raw(p);
                if !is_helper(&name) {
                    Self::push(&mut self.facts.unknown_helpers, name, pos);
                }
            }
            (Parameter::Name(n), _) => {
                if !is_helper(n) {
                    Self::push(&mut self.facts.unknown_helpers, n.clone(), pos);
                }
            }
            (other, _) => self.param(other, depth, pos),
        }
        self.params(ht, depth, pos);
    }

    fn params(&mut self, ht: &HelperTemplate, depth: usize, pos: (usize, usize)) {
        for p in &ht.params {
            self.param(p, depth, pos);
        }
        let mut keys: Vec<&String> = ht.hash.keys().collect();
        keys.sort();
        for k in keys {
            if let Some(p) = ht.hash.get(k) {
                self.param(p, depth, pos);
            }
        }
    }

    fn param(&mut self, p: &Parameter, depth: usize, pos: (usize, usize)) {
        match p {
            Parameter::Path(path) => self.path(path, depth, pos),
            Parameter::Subexpression(sub) => match sub.as_element() {
                TemplateElement::Expression(ht) => self.expression(ht, depth, pos),
                other => self.element(other, depth, pos),
            },
            _ => {}
        }
    }

    fn block(&mut self, ht: &HelperTemplate, depth: usize, pos: (usize, usize)) {
        let name = match &ht.name {
            Parameter::Name(n) => n.clone(),
            Parameter::Path(p) => raw(p),
            _ => String::new(),
        };
        if !is_helper(&name) {
            Self::push(&mut self.facts.unknown_helpers, format!("#{name}"), pos);
        }
        self.params(ht, depth, pos);
        let inner_depth = if matches!(name.as_str(), "each" | "with") {
            depth + 1
        } else {
            depth
        };
        let pushed = match &ht.block_param {
            Some(BlockParam::Single(p)) => self.push_block_params(&[p]),
            Some(BlockParam::Pair((a, b))) => self.push_block_params(&[a, b]),
            _ => 0,
        };
        if let Some(t) = &ht.template {
            self.template(t, inner_depth, pos);
        }
        self.block_params
            .truncate(self.block_params.len().saturating_sub(pushed));
        if let Some(t) = &ht.inverse {
            self.template(t, depth, pos);
        }
    }

    fn push_block_params(&mut self, ps: &[&Parameter]) -> usize {
        let mut n = 0;
        for p in ps {
            if let Some(name) = p.as_name() {
                self.block_params.push(name.to_string());
                n += 1;
            }
        }
        n
    }

    fn path(&mut self, p: &Path, depth: usize, pos: (usize, usize)) {
        match p {
            Path::Local((_, name, raw)) => {
                if !LOCALS.contains(&name.as_str()) {
                    Self::push(&mut self.facts.unknown_roots, raw.clone(), pos);
                }
            }
            Path::Relative((segs, raw)) => {
                let raw = raw.trim();
                let first_named = segs.iter().find_map(|s| match s {
                    PathSeg::Named(n) => Some(n.as_str()),
                    _ => None,
                });
                let from_root = raw.starts_with("@root");
                let this = raw == "this"
                    || raw == "."
                    || raw.starts_with("this.")
                    || raw.starts_with("this/")
                    || raw.starts_with("./");
                if raw.starts_with("..") {
                    return;
                }
                if !from_root && depth > 0 {
                    // Relative to the current #each / #with item.
                    return;
                }
                let Some(root) = first_named else {
                    return;
                };
                if !from_root && !this && self.block_params.iter().any(|b| b == root) {
                    return;
                }
                if ROOTS.contains(&root) {
                    self.facts.roots.insert(root.to_string());
                } else {
                    Self::push(&mut self.facts.unknown_roots, raw.to_string(), pos);
                }
            }
        }
    }
}

fn raw(p: &Path) -> String {
    match p {
        Path::Relative((_, raw)) | Path::Local((_, _, raw)) => raw.clone(),
    }
}

fn describe(ht: &HelperTemplate) -> String {
    let name = match &ht.name {
        Parameter::Name(n) => n.clone(),
        Parameter::Path(p) => raw(p),
        _ => "…".to_string(),
    };
    if ht.params.is_empty() && ht.hash.is_empty() {
        format!("{{{{{{{name}}}}}}}")
    } else {
        format!("{{{{{{{name} …}}}}}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(src: &str) -> Facts {
        inspect(&Template::compile(src).expect("template compiles"))
    }

    fn whats(l: &[Located]) -> Vec<&str> {
        l.iter().map(|l| l.what.as_str()).collect()
    }

    #[test]
    fn known_roots_are_collected_and_unknown_ones_reported() {
        let f = facts(
            "{{profile.name}} {{upper context.x}} {{#if campaign.name}}{{unsubscribeUrl}}{{/if}} \
             {{profil.name}} {{default (lower foo.bar) \"x\"}}",
        );
        assert_eq!(
            f.roots.iter().map(String::as_str).collect::<Vec<_>>(),
            vec!["campaign", "context", "profile", "unsubscribeUrl"]
        );
        assert_eq!(whats(&f.unknown_roots), vec!["profil.name", "foo.bar"]);
    }

    #[test]
    fn paths_inside_each_and_with_are_relative_and_not_checked() {
        let f = facts(
            "{{#each context.items}}{{name}} {{@index}} {{this.price}} {{../context.currency}}\
             {{/each}}{{#with profile.address}}{{city}}{{/with}}",
        );
        assert!(f.unknown_roots.is_empty(), "{:?}", f.unknown_roots);
        assert!(f.roots.contains("context") && f.roots.contains("profile"));
    }

    #[test]
    fn root_paths_inside_blocks_are_checked() {
        let f = facts("{{#each context.items}}{{@root.nope}} {{@root.profile.x}}{{/each}}");
        assert_eq!(whats(&f.unknown_roots), vec!["@root.nope"]);
        assert!(f.roots.contains("profile"));
    }

    #[test]
    fn the_else_part_of_each_is_in_the_outer_scope() {
        let f = facts("{{#each context.items}}{{name}}{{else}}{{nothing}}{{/each}}");
        assert_eq!(whats(&f.unknown_roots), vec!["nothing"]);
    }

    #[test]
    fn block_params_are_known_names() {
        let f = facts(
            "{{#if profile.vip}}{{#each context.items as |item i|}}{{item.name}}{{/each}}{{/if}}",
        );
        assert!(f.unknown_roots.is_empty(), "{:?}", f.unknown_roots);
    }

    #[test]
    fn unknown_locals_are_reported() {
        let f = facts("{{@index}} {{@foo}}");
        assert_eq!(whats(&f.unknown_roots), vec!["@foo"]);
    }

    #[test]
    fn unescaped_output_partials_and_unknown_helpers_are_found() {
        let f = facts(
            "{{{profile.a}}} {{& profile.b}} {{~{profile.c}~}} {{> footer}} {{shout profile.a}} {{#loop context.x}}{{/loop}}",
        );
        assert_eq!(f.unescaped.len(), 3);
        assert_eq!(whats(&f.partials), vec!["{{> footer}}"]);
        assert_eq!(whats(&f.unknown_helpers), vec!["shout", "#loop"]);
    }

    #[test]
    fn positions_point_at_the_element() {
        let f = facts("line one\n  {{nope}}");
        assert_eq!((f.unknown_roots[0].line, f.unknown_roots[0].column), (2, 3));
    }

    #[test]
    fn static_text_is_the_top_level_raw_text() {
        let t =
            Template::compile("Hello {{profile.name}}, {{#if x}}maybe{{/if}} bye ").expect("ok");
        assert_eq!(static_text(&t), "Hello,bye");
        assert!(!facts("just text").dynamic);
        assert!(facts("{{x}}").dynamic);
    }
}
