//! Entry point of a compute worker's WebAssembly (built by Trunk from `index.html` as a
//! worker with its loader shim; the page starts it, see `rdpp_web::pool`).

fn main() {
    rdpp_web::run_constructors_once();
    rdpp_web::worker::run();
}
