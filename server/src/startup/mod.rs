//! Building and running the application, on top of every other module: `routes` (the
//! HTTP application and its middleware), `admin` (the admin listener: metrics and
//! probes), `application` (a bound server, its listeners, worker and drain), `database`
//! (URLs and connections), `embedded` (the embedded PostgreSQL and its secret key) and
//! `run` (the `serve` and `worker` commands).
//! [`AppState`], which every handler reaches, is in `state`, below the API.

mod admin;
mod application;
mod database;
mod embedded_database;
mod routes;
mod run;

pub use application::*;
pub use database::*;
pub use embedded_database::*;
pub use routes::*;
pub use run::*;

pub use crate::state::{AppState, IdentitySettings};
