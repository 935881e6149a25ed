/// Winnow finds what is wrong with an image dataset: broken files, duplicates, quality issues.
public enum Winnow {
    /// The version printed by `winnow --version` and stored with each run.
    public static let version = "0.1.0"
}
