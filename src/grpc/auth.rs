//! Caller authentication: `etc-sys-id` + `etc-token` metadata (the seeds' headers) checked before any
//! handler runs. Health and reflection are not behind it.
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tonic::{Request, Status};

/// An allowed calling system and its token.
#[derive(Clone)]
pub struct CallerCredential {
    pub sys_id: String,
    pub token: SecretString,
}

impl std::fmt::Debug for CallerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallerCredential({}, <token>)", self.sys_id)
    }
}

/// The authenticated caller, put into the request's extensions for handlers and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub sys_id: String,
}

#[derive(Clone, Debug)]
pub struct CallerAuth {
    callers: Arc<[CallerCredential]>,
}

impl CallerAuth {
    pub fn new(callers: Vec<CallerCredential>) -> Self {
        Self { callers: callers.into() }
    }

    pub fn check<T>(&self, mut req: Request<T>) -> Result<Request<T>, Status> {
        let md = req.metadata();
        let read = |key: &str| md.get(key).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
        let (Some(sys_id), Some(token)) = (read("etc-sys-id"), read("etc-token")) else {
            return Err(Status::unauthenticated("etc-sys-id and etc-token metadata are required"));
        };
        if sys_id.len() > 32 || token.len() > 32 {
            return Err(Status::unauthenticated("etc-sys-id and etc-token are at most 32 characters"));
        }
        // A caller may be listed twice, with its old and new token, while its token rotates.
        let mut known = self.callers.iter().filter(|c| c.sys_id == sys_id).peekable();
        if known.peek().is_none() {
            return Err(Status::permission_denied("this etc-sys-id may not call the service"));
        }
        // Every listed token is compared (constant time each), so timing tells nothing of which.
        let valid =
            known.fold(false, |ok, c| ok | bool::from(c.token.expose_secret().as_bytes().ct_eq(token.as_bytes())));
        if !valid {
            return Err(Status::unauthenticated("etc-token is not valid for this etc-sys-id"));
        }
        let caller = Caller { sys_id: sys_id.to_owned() };
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

impl tonic::service::Interceptor for CallerAuth {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        self.check(req)
    }
}
