//! Server integration tests below the HTTP layer: the database's tenant isolation as the
//! runtime role sees it, and the start-up checks of `momentum serve`. One binary.

mod rls;
mod serve;
