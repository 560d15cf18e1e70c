"""Reports: plain records, figures (plotly for HTML, matplotlib for PNG), a self-contained HTML file."""
