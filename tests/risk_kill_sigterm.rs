//! Kill switch from SIGTERM raised at this test process. Its own binary:
//! once the handler is registered SIGTERM no longer terminates the process,
//! it throws the kill switch.

mod pipeline;

use scalpel::risk::Cause;
use scalpel::risk::thread::KillSwitch;

#[test]
fn sigterm_cancels_flattens_and_exits() {
    let kill = KillSwitch::new(None);
    kill.register_signals().expect("handlers installed");
    pipeline::kill_switch_scenario(
        "kill-sigterm",
        kill,
        |_| signal_hook::low_level::raise(signal_hook::consts::SIGTERM).expect("raise"),
        Cause::KillSignal,
    );
}
