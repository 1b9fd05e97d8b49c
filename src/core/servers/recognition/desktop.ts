/**
 * The desktop's own GPU processes: the X server, compositors and shells, and browsers (and
 * Electron apps) whose GPU process holds video memory. Named so that they are not mistaken for a
 * leak; never acted on.
 */
import { programNames, type ProcessKind } from './process-kind.ts';

const DESKTOP = /^(Xorg|X|Xwayland|gnome-shell|kwin_x11|kwin_wayland|kwin|plasmashell|mutter|sway|Hyprland|weston|cinnamon|xfwm4|picom|compiz)$/;
const BROWSER =
  /^(firefox|firefox-bin|firefox-esr|librewolf|chrome|google-chrome|chromium|chromium-browser|brave|brave-browser|msedge|opera|vivaldi-bin|electron|code|code-insiders|codium|slack|discord|steam|steamwebhelper)$/;

export const desktopProcess: ProcessKind = {
  id: 'desktop',
  label: 'desktop',
  serverKind: null,
  listens: false,
  recognise: (p) => {
    const names = programNames(p);
    const shell = names.find((n) => DESKTOP.test(n));
    if (shell) return { role: shell, model: null };
    const browser = names.find((n) => BROWSER.test(n));
    if (!browser) return null;
    const type = p.argv.find((a) => a.startsWith('--type='))?.slice('--type='.length);
    return { role: type ? `${browser} ${type}` : browser, model: null };
  },
};
