//! Entry point of the site's WebAssembly (built by Trunk from `index.html`).

fn main() {
    rdpp_web::run_constructors_once();
    rdpp_web::mount();
}
