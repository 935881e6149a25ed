import Hummingbird

/// `/`, `/app.js`, `/app.css`: the web UI's files (``WebAsset``).
struct AssetsController {
    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        for asset in WebAsset.all {
            router.get(RouterPath(asset.path)) { _, _ in Responses.asset(asset) }
        }
    }
}
