//! What the HTTP layer records of a request, as labels that cost no allocation.

use std::collections::HashSet;
use std::sync::{OnceLock, RwLock};

use axum::extract::MatchedPath;
use axum::http::Method;

/// The route template a request matched (never its raw path: paths carry e-mail addresses),
/// as a label that costs no allocation per request. Templates come from the router, so there
/// are only so many; each is kept once for the life of the process.
pub fn route_label(matched: Option<&MatchedPath>) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let Some(matched) = matched else {
        return "unmatched";
    };
    let routes = ROUTES.get_or_init(Default::default);
    let known = routes.read().unwrap_or_else(|p| p.into_inner());
    if let Some(route) = known.get(matched.as_str()) {
        return route;
    }
    drop(known);
    let mut routes = routes.write().unwrap_or_else(|p| p.into_inner());
    if let Some(route) = routes.get(matched.as_str()) {
        return route;
    }
    let route: &'static str = Box::leak(matched.as_str().to_owned().into_boxed_str());
    routes.insert(route);
    route
}

/// The method as a label; methods outside HTTP's own are counted together.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
