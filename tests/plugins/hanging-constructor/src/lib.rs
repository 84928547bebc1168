//! Test library whose ELF constructor never returns, so that `dlopen` of it never returns
//! either. The host must reject the file as hung after its scan timeout and keep running.

use std::thread;
use std::time::Duration;

/// Runs when the dynamic loader initializes the library.
extern "C" fn sleep_forever() {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// Registers [`sleep_forever`] as an ELF constructor.
#[used]
#[expect(
    unsafe_code,
    reason = "an ELF constructor is a function pointer placed in `.init_array`, which needs \
              `link_section`"
)]
#[unsafe(link_section = ".init_array")]
static SLEEP_FOREVER: extern "C" fn() = sleep_forever;
