"""Import circles between the files of each crate: `use crate::a` in b and `use crate::b`
in a (or longer rings). Prints each circle and exits 1 if there is any.

Usage: scripts/import_circles.py CRATE_DIR...  (each with a src/ folder)
"""
import os
import re
import sys


def crate_graph(src):
    """Module -> modules it names through crate:: or super:: (unit tests left out)."""
    mods={}
    for root,_,files in os.walk(src):
        for f in files:
            if f.endswith('.rs'):
                p=os.path.join(root,f); rel=os.path.relpath(p,src)[:-3]
                name=rel.replace(os.sep,'::')
                if name.endswith('::mod'): name=name[:-5]
                mods[name]=open(p).read()
    g={m:set() for m in mods}
    for m,text in mods.items():
        text=re.sub(r'#\[cfg\(test\)\]\s*mod tests\s*\{.*',"",text,flags=re.S)
        parent=m.rsplit('::',1)[0] if '::' in m else ''
        for ref in re.findall(r'\bcrate::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)',text):
            parts=ref.split('::')
            for i in range(len(parts),0,-1):
                t='::'.join(parts[:i])
                if t in mods and t!=m: g[m].add(t); break
        for ref in re.findall(r'\bsuper::([a-z_][a-z0-9_]*)',text):
            t=(parent+'::'+ref) if parent else ref
            if t in mods and t!=m: g[m].add(t)
    return g
def cycles(g):
    """Strongly connected components of more than one module (Tarjan)."""
    out=[];index={};low={};st=[];on=set();i=[0]
    sys.setrecursionlimit(10000)
    def sc(v):
        index[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
        for w in g[v]:
            if w not in index: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],index[w])
        if low[v]==index[v]:
            comp=[]
            while True:
                w=st.pop();on.discard(w);comp.append(w)
                if w==v:break
            if len(comp)>1: out.append(sorted(comp))
    for v in g:
        if v not in index: sc(v)
    return out
found = 0
for crate in sys.argv[1:]:
    for circle in cycles(crate_graph(os.path.join(crate, 'src'))):
        print(f"{crate}: import circle: {' <-> '.join(circle)}")
        found += 1
print(f"import circles: {found}")
sys.exit(1 if found else 0)
