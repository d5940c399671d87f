# Run by whoever installed pptwisted (root, for a system-wide install), once
# after each install or upgrade of pptwisted or Twisted: rewrites
# twisted/plugins/dropin.cache where pptwisted's dropin lives.
python3 -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))"
