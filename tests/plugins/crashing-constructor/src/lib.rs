//! Test library whose ELF constructor aborts the process that loads it, before `dlopen`
//! returns and before any check of the host could run. The host must reject the file, naming
//! the signal, and keep running.

/// Runs when the dynamic loader initializes the library.
extern "C" fn abort_on_load() {
    std::process::abort();
}

/// Registers [`abort_on_load`] as an ELF constructor.
#[used]
#[expect(
    unsafe_code,
    reason = "an ELF constructor is a function pointer placed in `.init_array`, which needs \
              `link_section`"
)]
#[unsafe(link_section = ".init_array")]
static ABORT_ON_LOAD: extern "C" fn() = abort_on_load;
