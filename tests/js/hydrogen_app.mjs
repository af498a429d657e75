// Hydrogen, Element's lightweight client, as its web app starts it, from the
// unmodified hydrogen-view-sdk. Bundled by tests/js_clients.py (esbuild) and
// opened in Chromium by tests/test_hydrogen.py. The homeserver comes from the
// page's ?homeserver= query, so Hydrogen's login form starts filled in with it.
import {
  createNavigation, createRouter, FeatureSet, Platform, RootViewModel,
} from "hydrogen-view-sdk";

const assetPaths = {
  downloadSandbox: "assets/download-sandbox.html",
  worker: "assets/main.js",
  olm: { wasm: "olm/olm.wasm", legacyBundle: "olm/olm_legacy.js", wasmBundle: "olm/olm.js" },
  serviceWorker: "sw.js",
};

async function main() {
  const homeserver = new URLSearchParams(location.search).get("homeserver");
  const container = document.getElementById("app");
  const config = { defaultHomeServer: homeserver };
  const platform = new Platform({ container, assetPaths, config, options: { development: true } });
  await platform.init();
  const navigation = createNavigation();
  platform.setNavigation(navigation);
  const urlRouter = createRouter({ navigation, history: platform.history });
  urlRouter.attach();
  const features = await FeatureSet.load(platform.settingsStorage);
  const root = new RootViewModel({ platform, navigation, urlRouter, features });
  await root.load();
  platform.createAndMountRootView(root);
}

main().catch((error) => {
  document.body.dataset.error = String(error?.stack ?? error);
});
