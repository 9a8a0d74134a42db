//! Kill switch from SIGUSR1 raised at this test process (its own binary, so
//! no other test shares the signal).

mod pipeline;

use scalpel::risk::Cause;
use scalpel::risk::thread::KillSwitch;

#[test]
fn sigusr1_cancels_flattens_and_exits() {
    let kill = KillSwitch::new(None);
    kill.register_signals().expect("handlers installed");
    pipeline::kill_switch_scenario(
        "kill-sigusr1",
        kill,
        |_| signal_hook::low_level::raise(signal_hook::consts::SIGUSR1).expect("raise"),
        Cause::KillSignal,
    );
}
