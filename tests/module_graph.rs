//! No module imports a module that imports it back: in every crate of the workspace
//! (each library, binary and `src/bin/*` target), the modules and the `crate::`,
//! `super::`, `self::` and child-module paths between them form no cycle.
//!
//! The check reads the sources as text, the way a reviewer would: it follows `mod x;`
//! from each crate root, blanks comments and literals, expands `use` trees and resolves
//! each path to the module that defines the item. A `pub use` of a module's own
//! descendant is a re-export (the facade pattern), not an import: a path through it
//! resolves to the descendant that defines the item. Doc links in comments do not
//! count.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// A module by its path inside its crate: `[]` is the crate root, `["middleware",
/// "auth"]` is `crate::middleware::auth`.
type ModulePath = Vec<String>;

/// One module of a crate: the file that holds it and what it refers to.
#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    /// Child modules declared by `mod x;` or `mod x { ... }` in this file (an inline
    /// `mod tests { ... }` has no file of its own and stays part of this module).
    children: BTreeSet<String>,
    /// Paths named by `use` items (with their line), expanded, as written.
    uses: Vec<(Vec<String>, usize, bool)>,
    /// Paths named in expressions and types (`crate::x::f()`), with their line.
    inline: Vec<(Vec<String>, usize)>,
    /// `pub use` re-exports: the name it is known by here -> the path as written.
    exports: HashMap<String, Vec<String>>,
}

/// One crate: its modules by path.
struct Crate {
    name: String,
    modules: BTreeMap<ModulePath, Module>,
}

/// A reference from one module to another, and the first place it is written.
#[derive(Debug, Clone)]
struct Edge {
    to: ModulePath,
    file: PathBuf,
    line: usize,
}

// ---------------------------------------------------------------------------------
// Reading a source file

/// The source with comments, string and char literals replaced by spaces; newlines
/// are kept so that line numbers stay right.
fn blank_comments_and_literals(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        let next = chars.get(index + 1).copied();
        if c == '/' && next == Some('/') {
            while index < chars.len() && chars[index] != '\n' {
                out.push(' ');
                index += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while index < chars.len() {
                if chars[index] == '/' && chars.get(index + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    index += 2;
                } else if chars[index] == '*' && chars.get(index + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    index += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[index]));
                    index += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&chars, index) {
            for &skipped in &chars[index..end] {
                out.push(blank(skipped));
            }
            index = end;
        } else if c == '"' {
            out.push(' ');
            index += 1;
            while index < chars.len() && chars[index] != '"' {
                let step = if chars[index] == '\\' { 2 } else { 1 };
                for &skipped in chars.iter().skip(index).take(step) {
                    out.push(blank(skipped));
                }
                index += step;
            }
            out.push(' ');
            index += 1;
        } else if c == '\'' {
            // A char literal ('a', '\n', '\''), or a lifetime ('a, 'static) kept as is.
            let literal_end = if next == Some('\\') {
                (index + 2..chars.len().min(index + 12)).find(|&at| chars[at] == '\'')
            } else if chars.get(index + 2) == Some(&'\'') {
                Some(index + 2)
            } else {
                None
            };
            match literal_end {
                Some(end) => {
                    out.extend(std::iter::repeat_n(' ', end + 1 - index));
                    index = end + 1;
                }
                None => {
                    out.push(c);
                    index += 1;
                }
            }
        } else {
            out.push(c);
            index += 1;
        }
    }
    out
}

/// Where a raw string (`r"…"`, `r#"…"#`, `br#"…"#`) starting at `index` ends.
fn raw_string_end(chars: &[char], index: usize) -> Option<usize> {
    let previous_is_ident = index > 0 && is_ident_char(chars[index - 1]);
    let mut at = index;
    if chars.get(at) == Some(&'b') {
        at += 1;
    }
    if previous_is_ident || chars.get(at) != Some(&'r') {
        return None;
    }
    at += 1;
    let hashes = chars[at..].iter().take_while(|&&c| c == '#').count();
    at += hashes;
    if chars.get(at) != Some(&'"') {
        return None;
    }
    at += 1;
    while at < chars.len() {
        if chars[at] == '"' && chars[at + 1..].iter().take(hashes).all(|&c| c == '#') {
            let end = at + 1 + hashes;
            if end <= chars.len() {
                return Some(end);
            }
        }
        at += 1;
    }
    Some(chars.len())
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A token of the blanked source: an identifier, `::`, or one punctuation char.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    line: usize,
    /// Byte offset of the token in the blanked source.
    start: usize,
}

fn tokens(code: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut iter = code.char_indices().peekable();
    while let Some((start, c)) = iter.next() {
        if c == '\n' {
            line += 1;
        } else if is_ident_char(c) {
            let mut text = String::from(c);
            while let Some(&(_, next)) = iter.peek() {
                if !is_ident_char(next) {
                    break;
                }
                text.push(next);
                iter.next();
            }
            tokens.push(Token { text, line, start });
        } else if c == ':' && iter.peek().map(|&(_, next)| next) == Some(':') {
            iter.next();
            tokens.push(Token {
                text: "::".into(),
                line,
                start,
            });
        } else if !c.is_whitespace() {
            tokens.push(Token {
                text: c.to_string(),
                line,
                start,
            });
        }
    }
    tokens
}

/// Expands the use tree starting at `tokens[at]` into its paths (`self` in braces is
/// the prefix itself; `*` and `as` aliases keep the path). Returns the paths with the
/// name each is known by, and the index after the tree.
fn use_tree(
    tokens: &[Token],
    mut at: usize,
    prefix: &[String],
) -> (Vec<(Vec<String>, String)>, usize) {
    let mut path = prefix.to_vec();
    let mut paths = Vec::new();
    loop {
        let Some(token) = tokens.get(at) else {
            return (paths, at);
        };
        match token.text.as_str() {
            "::" => at += 1,
            "{" => {
                at += 1;
                loop {
                    match tokens.get(at).map(|token| token.text.as_str()) {
                        Some("}") => {
                            at += 1;
                            break;
                        }
                        Some(",") => at += 1,
                        None => return (paths, at),
                        Some(_) => {
                            let (inner, after) = use_tree(tokens, at, &path);
                            paths.extend(inner);
                            at = after;
                        }
                    }
                }
                return (paths, at);
            }
            "*" => {
                paths.push((path, "*".into()));
                return (paths, at + 1);
            }
            "self" if !path.is_empty() && tokens.get(at + 1).is_none_or(|t| t.text != "::") => {
                let name = path.last().cloned().unwrap_or_default();
                let (name, after) = alias(tokens, at + 1, name);
                paths.push((path, name));
                return (paths, after);
            }
            text if text.chars().all(is_ident_char) => {
                path.push(text.to_owned());
                at += 1;
                if tokens.get(at).is_none_or(|t| t.text != "::") {
                    let (name, after) = alias(tokens, at, text.to_owned());
                    paths.push((path, name));
                    return (paths, after);
                }
            }
            _ => return (paths, at),
        }
    }
}

/// `as NAME` after a use path: the name the item is known by.
fn alias(tokens: &[Token], at: usize, name: String) -> (String, usize) {
    if tokens.get(at).is_some_and(|t| t.text == "as") {
        let alias = tokens.get(at + 1).map_or(name, |t| t.text.clone());
        (alias, at + 2)
    } else {
        (name, at)
    }
}

/// Reads one file's module declarations, `use` items and inline paths.
fn read_module(file: &Path, source: &str) -> Module {
    let code = blank_comments_and_literals(source);
    let tokens = tokens(&code);
    let mut module = Module {
        file: file.to_owned(),
        ..Module::default()
    };
    let depth = inline_module_depth(&tokens);
    let mut in_use = vec![false; tokens.len()];
    for (index, token) in tokens.iter().enumerate() {
        let previous = index.checked_sub(1).map(|at| tokens[at].text.as_str());
        if token.text == "mod"
            && let Some(name) = tokens.get(index + 1)
            && matches!(
                tokens.get(index + 2).map(|t| t.text.as_str()),
                Some(";" | "{")
            )
        {
            module.children.insert(name.text.clone());
        }
        if token.text != "use" || previous == Some("::") {
            continue;
        }
        // `pub use`, `pub(crate) use`, `pub(super) use`: a re-export.
        let public = previous == Some("pub")
            || (previous == Some(")")
                && index >= 4
                && tokens[index - 4].text == "pub"
                && tokens[index - 3].text == "(");
        let (paths, end) = use_tree(&tokens, index + 1, &[]);
        for flag in in_use.iter_mut().take(end).skip(index) {
            *flag = true;
        }
        for (path, name) in paths {
            let path = out_of_inline_modules(path, depth[index]);
            if public && name != "*" {
                module.exports.insert(name, path.clone());
            }
            module.uses.push((path, token.line, public));
        }
    }
    // Inline paths: `a::b::c` not inside a use item and not the tail of a longer path.
    let mut index = 0;
    while index < tokens.len() {
        let starts_path = !in_use[index]
            && tokens[index].text.chars().all(is_ident_char)
            && tokens.get(index + 1).is_some_and(|t| t.text == "::")
            && (index == 0 || tokens[index - 1].text != "::");
        if !starts_path {
            index += 1;
            continue;
        }
        let line = tokens[index].line;
        let inline_depth = depth[index];
        let mut path = vec![tokens[index].text.clone()];
        index += 1;
        while tokens.get(index).is_some_and(|t| t.text == "::")
            && tokens
                .get(index + 1)
                .is_some_and(|t| t.text.chars().all(is_ident_char))
        {
            path.push(tokens[index + 1].text.clone());
            index += 2;
        }
        module
            .inline
            .push((out_of_inline_modules(path, inline_depth), line));
    }
    module
}

/// How many inline `mod x { ... }` blocks (such as `mod tests`) enclose each token.
fn inline_module_depth(tokens: &[Token]) -> Vec<usize> {
    let mut depth = Vec::with_capacity(tokens.len());
    let mut open_braces = 0usize;
    let mut module_braces: Vec<usize> = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        match token.text.as_str() {
            "{" => {
                open_braces += 1;
                if index >= 2 && tokens[index - 2].text == "mod" {
                    module_braces.push(open_braces);
                }
            }
            "}" => {
                if module_braces.last() == Some(&open_braces) {
                    module_braces.pop();
                }
                open_braces = open_braces.saturating_sub(1);
            }
            _ => {}
        }
        depth.push(module_braces.len());
    }
    depth
}

/// A path written inside `depth` inline modules, as seen from the file's module: the
/// inline module is part of it, so `super::` there (`use super::*` in `mod tests`)
/// names the file's own module.
fn out_of_inline_modules(path: Vec<String>, depth: usize) -> Vec<String> {
    let supers = path
        .iter()
        .take(depth)
        .take_while(|segment| *segment == "super")
        .count();
    if depth == 0 || supers == 0 {
        return path;
    }
    let mut outer = vec!["self".to_owned()];
    outer.extend(path.into_iter().skip(supers));
    outer
}

// ---------------------------------------------------------------------------------
// Building a crate's module tree

/// Loads a crate from its root file, following `mod x;` declarations; `read` gives a
/// file's text (or `None` when there is no such file).
fn load_crate(name: &str, root: &Path, read: &dyn Fn(&Path) -> Option<String>) -> Crate {
    let mut modules = BTreeMap::new();
    let mut pending = vec![(Vec::<String>::new(), root.to_owned())];
    while let Some((path, file)) = pending.pop() {
        let Some(source) = read(&file) else {
            continue;
        };
        let module = read_module(&file, &source);
        let owns_directory =
            path.is_empty() || file.file_name().is_some_and(|name| name == "mod.rs");
        let directory = if owns_directory {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            file.with_extension("")
        };
        for child in &module.children {
            let flat = directory.join(format!("{child}.rs"));
            let nested = directory.join(child).join("mod.rs");
            // An inline `mod x { ... }` has no file: it stays part of this module.
            let child_file = if read(&flat).is_some() {
                flat
            } else if read(&nested).is_some() {
                nested
            } else {
                continue;
            };
            let mut child_path = path.clone();
            child_path.push(child.clone());
            pending.push((child_path, child_file));
        }
        modules.insert(path, module);
    }
    Crate {
        name: name.to_owned(),
        modules,
    }
}

impl Crate {
    fn has_child(&self, module: &[String], child: &str) -> bool {
        let mut path = module.to_vec();
        path.push(child.to_owned());
        self.modules.contains_key(&path)
    }

    /// The module a path written in `from` refers to: the deepest module it names,
    /// through re-exports to the module that defines the item. `None` for a path
    /// outside the crate (another crate, std, a local name).
    fn resolve(&self, from: &[String], path: &[String], depth: usize) -> Option<ModulePath> {
        if depth > 16 || path.is_empty() {
            return None;
        }
        let (mut module, rest): (ModulePath, &[String]) = match path[0].as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (from.to_vec(), &path[1..]),
            "super" => {
                let mut module = from.to_vec();
                let mut rest = path;
                while rest.first().is_some_and(|segment| segment == "super") {
                    module.pop();
                    rest = &rest[1..];
                }
                (module, rest)
            }
            child if self.has_child(from, child) => (from.to_vec(), path),
            _ => return None,
        };
        for (position, segment) in rest.iter().enumerate() {
            if self.has_child(&module, segment) {
                module.push(segment.clone());
                continue;
            }
            // A name re-exported by `module`: follow it to where it is defined.
            let Some(exported) = self
                .modules
                .get(&module)
                .and_then(|defined| defined.exports.get(segment))
            else {
                // An item defined in `module` itself.
                return Some(module);
            };
            let mut target = exported.clone();
            target.extend_from_slice(&rest[position + 1..]);
            return self.resolve(&module, &target, depth + 1).or(Some(module));
        }
        Some(module)
    }

    /// Every reference from one module to another, by module.
    fn edges(&self) -> BTreeMap<ModulePath, Vec<Edge>> {
        let mut edges: BTreeMap<ModulePath, Vec<Edge>> = BTreeMap::new();
        for (from, module) in &self.modules {
            let mut seen = BTreeSet::new();
            let written = module
                .uses
                .iter()
                .map(|(path, line, public)| (path, *line, *public))
                .chain(
                    module
                        .inline
                        .iter()
                        .map(|(path, line)| (path, *line, false)),
                );
            for (path, line, public) in written {
                let Some(to) = self.resolve(from, path, 0) else {
                    continue;
                };
                // Re-exporting a descendant is the facade pattern, not an import.
                let reexports_descendant = public && to.starts_with(from);
                if to == *from || reexports_descendant || !seen.insert(to.clone()) {
                    continue;
                }
                edges.entry(from.clone()).or_default().push(Edge {
                    to,
                    file: module.file.clone(),
                    line,
                });
            }
        }
        edges
    }
}

// ---------------------------------------------------------------------------------
// Cycles

/// The strongly connected components with more than one module (Tarjan).
fn cycles(nodes: &[ModulePath], edges: &BTreeMap<ModulePath, Vec<Edge>>) -> Vec<Vec<ModulePath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModulePath, Vec<Edge>>,
        index: HashMap<ModulePath, usize>,
        low: HashMap<ModulePath, usize>,
        stack: Vec<ModulePath>,
        on_stack: BTreeSet<ModulePath>,
        next: usize,
        found: Vec<Vec<ModulePath>>,
    }
    fn visit(state: &mut State<'_>, node: &ModulePath) {
        state.index.insert(node.clone(), state.next);
        state.low.insert(node.clone(), state.next);
        state.next += 1;
        state.stack.push(node.clone());
        state.on_stack.insert(node.clone());
        let targets: Vec<ModulePath> = state
            .edges
            .get(node)
            .map(|edges| edges.iter().map(|edge| edge.to.clone()).collect())
            .unwrap_or_default();
        for target in targets {
            if !state.index.contains_key(&target) {
                visit(state, &target);
                let low = state.low[node].min(state.low[&target]);
                state.low.insert(node.clone(), low);
            } else if state.on_stack.contains(&target) {
                let low = state.low[node].min(state.index[&target]);
                state.low.insert(node.clone(), low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(&member);
                let done = member == *node;
                component.push(member);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for node in nodes {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

fn module_name(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

/// Each cycle of the crate, described with the references that close it.
fn describe_cycles(krate: &Crate) -> Vec<String> {
    let nodes: Vec<ModulePath> = krate.modules.keys().cloned().collect();
    let edges = krate.edges();
    cycles(&nodes, &edges)
        .into_iter()
        .map(|component| {
            let members: BTreeSet<&ModulePath> = component.iter().collect();
            let mut text = format!(
                "{}: {}",
                krate.name,
                component
                    .iter()
                    .map(|path| module_name(path))
                    .collect::<Vec<_>>()
                    .join(" <-> ")
            );
            for from in &component {
                for edge in edges.get(from).into_iter().flatten() {
                    if members.contains(&edge.to) {
                        text.push_str(&format!(
                            "\n    {} -> {} ({}:{})",
                            module_name(from),
                            module_name(&edge.to),
                            edge.file.display(),
                            edge.line
                        ));
                    }
                }
            }
            text
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// The workspace

/// Every crate root of every workspace package: `src/lib.rs`, `src/main.rs` and
/// `src/bin/*.rs`, named `package` or `package/bin`.
fn workspace_crate_roots() -> Vec<(String, PathBuf)> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Table = std::fs::read_to_string(workspace.join("Cargo.toml"))
        .expect("the workspace manifest")
        .parse()
        .expect("the workspace manifest is TOML");
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members");
    let mut packages = vec![workspace.to_path_buf()];
    packages.extend(
        members
            .iter()
            .map(|member| workspace.join(member.as_str().expect("a member path"))),
    );
    let mut roots = Vec::new();
    for package in packages {
        let label = package
            .strip_prefix(workspace)
            .ok()
            .filter(|relative| !relative.as_os_str().is_empty())
            .map_or_else(
                || "idic".to_owned(),
                |relative| relative.display().to_string(),
            );
        let src = package.join("src");
        for root in ["lib.rs", "main.rs"] {
            if src.join(root).is_file() {
                let name = if label == "idic" {
                    format!("src/{root}")
                } else {
                    format!("{label}/src/{root}")
                };
                roots.push((name, src.join(root)));
            }
        }
        if let Ok(entries) = std::fs::read_dir(src.join("bin")) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|extension| extension == "rs") {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    let name = if label == "idic" {
                        format!("src/bin/{file}")
                    } else {
                        format!("{label}/src/bin/{file}")
                    };
                    roots.push((name, path));
                }
            }
        }
    }
    roots
}

/// Circles that are known and being broken in code a change does not own. Empty: every
/// circle found so far is broken. An entry must name the circle exactly as found; a
/// circle that is gone must leave the list, so that it only shrinks.
const KNOWN_CIRCLES: &[&str] = &[];

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let read = |path: &Path| std::fs::read_to_string(path).ok();
    let mut modules_read = 0;
    let mut references = 0;
    let mut found = Vec::new();
    for (name, root) in workspace_crate_roots() {
        let krate = load_crate(&name, &root, &read);
        modules_read += krate.modules.len();
        references += krate.edges().values().map(Vec::len).sum::<usize>();
        found.extend(describe_cycles(&krate));
    }
    // The check is only worth something if it read the tree: the workspace has well
    // over a hundred modules and hundreds of references between them.
    assert!(modules_read > 100, "only {modules_read} modules read");
    assert!(references > 200, "only {references} references found");
    let circle_of = |description: &String| description.lines().next().unwrap_or("").to_owned();
    let new_circles: Vec<&String> = found
        .iter()
        .filter(|description| !KNOWN_CIRCLES.contains(&circle_of(description).as_str()))
        .collect();
    assert!(
        new_circles.is_empty(),
        "modules that import each other (break each circle: move the shared item to the \
         module that owns it or to a small leaf module):\n{}",
        new_circles
            .iter()
            .map(|description| description.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let gone: Vec<&&str> = KNOWN_CIRCLES
        .iter()
        .filter(|known| {
            !found
                .iter()
                .any(|description| circle_of(description) == **known)
        })
        .collect();
    assert!(
        gone.is_empty(),
        "circles no longer found: remove them from KNOWN_CIRCLES: {gone:?}"
    );
}

// ---------------------------------------------------------------------------------
// The checker's own tests, on made-up crates

fn fake_crate(files: &[(&str, &str)]) -> Crate {
    let files: HashMap<PathBuf, String> = files
        .iter()
        .map(|(path, text)| (PathBuf::from(path), (*text).to_owned()))
        .collect();
    load_crate("fake", Path::new("src/lib.rs"), &|path| {
        files.get(path).cloned()
    })
}

#[test]
fn a_circle_through_use_and_inline_paths_is_found() {
    let krate = fake_crate(&[
        ("src/lib.rs", "pub mod config;\npub mod auth;\nmod leaf;\n"),
        (
            "src/config.rs",
            "use crate::auth::{self, Digest};\nfn f() { crate::leaf::g() }\n",
        ),
        (
            "src/auth.rs",
            "pub struct Digest;\nfn f(config: crate::config::Config) -> usize { config.len() }\n",
        ),
        ("src/leaf.rs", "pub fn g() {}\n"),
    ]);
    let cycles = describe_cycles(&krate);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains("auth <-> config"), "{}", cycles[0]);
    assert!(cycles[0].contains("src/auth.rs:2"), "{}", cycles[0]);
}

#[test]
fn comments_strings_and_facade_reexports_are_not_imports() {
    let krate = fake_crate(&[
        (
            "src/lib.rs",
            "pub mod a;\npub mod b;\npub mod outer;\npub use a::Thing;\n",
        ),
        (
            "src/a.rs",
            "//! See [`crate::b`].\npub struct Thing;\nconst S: &str = \"crate::b::X\";\n\
             const R: &str = r#\"crate::b::Y\"#;\nfn f<'a>(_: &'a str) -> char { '\"' }\n",
        ),
        ("src/b.rs", "use crate::Thing;\n/* crate::a */\n"),
        (
            "src/outer/mod.rs",
            "mod inner;\npub use self::inner::Layer;\nfn f() {}\n",
        ),
        ("src/outer/inner.rs", "use super::f;\npub struct Layer;\n"),
    ]);
    assert!(describe_cycles(&krate).is_empty());
    let edges = krate.edges();
    // `crate::Thing` is resolved through the root's re-export to `a`.
    let b_edges: Vec<_> = edges[&vec!["b".to_owned()]]
        .iter()
        .map(|e| e.to.clone())
        .collect();
    assert_eq!(b_edges, vec![vec!["a".to_owned()]]);
    assert!(!edges.contains_key(&vec!["a".to_owned()]));
}

#[test]
fn a_parent_and_child_that_use_each_other_are_a_circle() {
    let krate = fake_crate(&[
        ("src/lib.rs", "mod outer;\n"),
        (
            "src/outer/mod.rs",
            "mod inner;\nfn f() { inner::g() }\npub struct S;\n",
        ),
        (
            "src/outer/inner.rs",
            "pub fn g() -> super::S { super::S }\n",
        ),
    ]);
    let cycles = describe_cycles(&krate);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(
        cycles[0].contains("outer <-> outer::inner"),
        "{}",
        cycles[0]
    );
}

#[test]
fn super_in_a_test_module_is_the_file_itself() {
    let krate = fake_crate(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        (
            "src/a.rs",
            "pub fn f() { crate::b::g() }\n#[cfg(test)]\nmod tests {\n    use super::*;\n    fn t() { super::f() }\n}\n",
        ),
        ("src/b.rs", "pub fn g() {}\n"),
    ]);
    assert!(describe_cycles(&krate).is_empty());
    let a_edges: Vec<_> = krate.edges()[&vec!["a".to_owned()]]
        .iter()
        .map(|edge| edge.to.clone())
        .collect();
    assert_eq!(a_edges, vec![vec!["b".to_owned()]]);
}
