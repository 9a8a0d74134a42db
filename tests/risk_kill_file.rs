//! Kill switch from a file, and from the engine's flag: cancel all,
//! flatten, exit, through the real risk and journal threads.

mod pipeline;

use scalpel::risk::Cause;
use scalpel::risk::thread::KillSwitch;
use std::sync::atomic::Ordering;

#[test]
fn kill_file_cancels_flattens_and_exits() {
    let dir = pipeline::temp_dir("kill-file-path");
    let path = dir.join("scalpel.kill");
    let kill = KillSwitch::new(Some(path.clone()));
    pipeline::kill_switch_scenario(
        "kill-file",
        kill,
        move |_| {
            std::fs::write(&path, b"").unwrap();
        },
        Cause::KillFile,
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn kill_flag_cancels_flattens_and_exits() {
    let kill = KillSwitch::new(None);
    let flag = kill.flag();
    pipeline::kill_switch_scenario("kill-flag", kill, move |_| flag.store(true, Ordering::Release), Cause::KillSignal);
}
