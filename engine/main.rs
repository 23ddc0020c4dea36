fn main() -> std::process::ExitCode {
    ecr_engine::cli::main()
}
