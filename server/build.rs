//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo does not know the
//! folder is an input: without this, a new migration file is missed until some source
//! file of the server changes, and tests silently run the old set.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
